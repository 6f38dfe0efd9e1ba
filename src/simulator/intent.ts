/*
 * What a plain-language message asks for. These rules are the simulator's whole
 * "understanding": each is a pattern a person can read (docs/simulator.md lists them), and
 * they run in a fixed order, first match wins.
 */
import { escapeRegExp, parseDateRange, type DateRange } from './dates.ts';

export interface StoreItem {
  content: string;
  tags: string[];
  /** From "store this meeting summary: …": what the content is. */
  description?: string;
}

export type Intent = (
  | { kind: 'store'; items: StoreItem[] }
  | { kind: 'retrieve'; range?: DateRange; limit?: number; tags?: string[] }
  | { kind: 'search'; query: string; range?: DateRange; limit?: number }
  | { kind: 'get'; id: string }
  | { kind: 'delete'; query: string; id?: string }
  | { kind: 'greeting' }
  | { kind: 'none' }
) & {
  /** Set when the message asks about someone else's memories ("show bob's memories"). */
  otherUser?: string;
};

const STORE_VERB =
  /^(?:remember|store|save|note(?:\s+down)?|memori[sz]e|keep\s+in\s+mind|write\s+down|jot\s+down|record|add\s+(?:a\s+)?(?:memory|note))\b(?:\s+that\b)?\s*:?\s*/i;
/** The verbs after which "this <label>: …" names what is stored ("store this recipe: …"); "remember that …" never does. */
const LABELLING_VERB = /^(?:store|save|note(?:\s+down)?|write\s+down|jot\s+down|record|add\s+(?:a\s+)?(?:memory|note))\b/i;
const DELETE_VERB = /^(?:delete|forget|remove|erase|drop)\b\s*/i;
const POLITE = /^(?:(?:hey|hi|ok|okay)\s+memento[,:]?\s*|please\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?|i\s+(?:want|need|would\s+like)\s+you\s+to\s+)+/i;
/** Words that end in 's but name a time, not a person: "today's memories". */
const NOT_A_USER = new Set([
  'my', 'your', 'our', 'their', 'his', 'her', 'its', 'i', 'you', 'we', 'they', 'he', 'she', 'it', 'me', 'us',
  'today', 'yesterday', 'tomorrow', 'week', 'month', 'year', 'everyone', 'everybody', 'somebody', 'someone',
  'last', 'this', 'that', 'the', 'a', 'an', 'all', 'other', 'memento',
]);
const ID_LIKE = /^(?=[\w.:-]*\d)[\w.:-]{4,}$/;

/** The message without greetings and polite openers: "Please, could you remember X" → "remember X". */
export function normalize(text: string): string {
  return text.trim().replace(/^[,\s]+/, '').replace(POLITE, '').replace(/^[,\s]+/, '').trim();
}

/** `#tag` words and a trailing "tagged x, y" / "with tags x and y" / "tags: x, y" clause, cut from the content. */
export function extractTags(text: string, labelled = false): StoreItem {
  const tags: string[] = [];
  let content = text;
  const clause = /[\s,;(]+(?:tagged(?:\s+(?:as|with))?|with\s+(?:the\s+)?tags?|tags?\s*:)\s+([^()]+?)\)?\s*[.!]?\s*$/i.exec(content);
  if (clause) {
    for (const t of clause[1]!.split(/\s*(?:,|\band\b|&)\s*/i)) {
      const tag = t.replace(/^#/, '').replace(/^["']|["']$/g, '').trim().toLowerCase();
      if (tag) tags.push(tag);
    }
    content = content.slice(0, clause.index);
  }
  content = content.replace(/(^|\s)#([\p{L}\p{N}_-]+)/gu, (_m, _space: string, tag: string) => {
    tags.push(tag.toLowerCase());
    return '';
  });
  // Spaces left where tags were go; line breaks stay, as the content is stored as written.
  content = content.replace(/[ \t]{2,}/g, ' ').replace(/[ \t]+\n/g, '\n').trim().replace(/^["'“]|["'”]$/g, '').trim();
  const item: StoreItem = { content: content || text.trim(), tags: [...new Set(tags)] };
  // "store this meeting summary: we agreed …" — the words before the first colon say what it
  // is, everything after it is kept exactly. Only after "store/save/note …", only a short
  // label, and only a colon that ends a word: "remember that … 9:30", a URL's "a:b" and the
  // colons inside the content stay where they are.
  const label = labelled ? /^(?:this|the|a|an|my|our)\s+((?:[^\s:]+\s+){0,4}[^\s:]+):\s+([\s\S]+)$/i.exec(item.content) : null;
  if (label) {
    item.description = label[1]!;
    item.content = label[2]!.trim();
  }
  return item;
}

/** "store this: X", "save the following: X" → X. */
const withoutLead = (text: string) => text.replace(/^(?:this|these|that|the\s+following)\s*:\s*/i, '').trim();

/** Several "remember …" lines or "remember A; remember B" → one item each; otherwise one item. */
function storeItems(message: string): StoreItem[] | undefined {
  const segments = message
    .split(/\n+|;\s*|\.\s+(?=(?:and\s+)?(?:also\s+)?(?:remember|store|save|note)\b)|,?\s+and\s+(?:also\s+)?(?=(?:remember|store|save|note)\b)/i)
    .map((s) => normalize(s.replace(/^[-*•\d.)\s]+/, '').replace(/^(?:and\s+)?(?:also\s+)?/i, '')))
    .filter(Boolean);
  const starts = segments.filter((s) => STORE_VERB.test(s)).length;
  if (starts >= 2) {
    const items: { text: string; labelled: boolean }[] = [];
    for (const s of segments) {
      if (STORE_VERB.test(s)) items.push({ text: s.replace(STORE_VERB, ''), labelled: LABELLING_VERB.test(s) });
      else if (items.length > 0) items[items.length - 1]!.text += `; ${s}`;
    }
    return items
      .map((i) => ({ ...i, text: withoutLead(i.text) }))
      .filter((i) => i.text)
      .map((i) => extractTags(i.text, i.labelled));
  }
  const single = normalize(message);
  if (!STORE_VERB.test(single)) return undefined;
  const rest = withoutLead(single.replace(STORE_VERB, ''));
  // "remember?" or "what do you remember" is a question, not something to keep.
  if (!rest || /^(?:what|anything|everything|when|where)\b.*\?$/i.test(rest)) return undefined;
  return [extractTags(rest, LABELLING_VERB.test(single))];
}

function otherUser(text: string): string | undefined {
  const candidates = [
    /\b([A-Za-z][\w.-]*?)(?:'|’)s\s+(?:memories|memory|notes|note|stuff|things|entries|data|files)\b/i,
    /\bwhat\s+(?:did|has)\s+([A-Za-z][\w.-]*)\s+(?:store|stored|save|saved|note|noted|remember|write|add|keep)\b/i,
    /\b(?:of|for|from|belonging\s+to|owned\s+by|as)\s+user\s+["']?([A-Za-z][\w.-]*)/i,
    /\buser\s+["']?([A-Za-z][\w.-]*?)["']?(?:'|’)s\b/i,
  ];
  for (const re of candidates) {
    const name = re.exec(text)?.[1];
    if (name && !NOT_A_USER.has(name.toLowerCase())) return name;
  }
  return undefined;
}

/** Tags a listing asks for: "#work", "tagged work", "with tag work". */
function tagsAskedFor(text: string): string[] {
  const tags = [...text.matchAll(/(?:^|\s)#([\p{L}\p{N}_-]+)/gu)].map((m) => m[1]!.toLowerCase());
  const named = /\b(?:tagged(?:\s+(?:as|with))?|with\s+(?:the\s+)?tag)\s+["']?([\p{L}\p{N}_-]+)/iu.exec(text);
  if (named) tags.push(named[1]!.toLowerCase());
  return [...new Set(tags)];
}

function limitOf(text: string): number | undefined {
  const m =
    /\b(?:last|latest|newest|recent|top|first)\s+(\d{1,4})\b/i.exec(text) ??
    /\b(\d{1,4})\s+(?:most\s+recent|latest|newest|last)\b/i.exec(text) ??
    /\blimit\s+(?:to\s+)?(\d{1,4})\b/i.exec(text);
  const n = m ? Number(m[1]) : undefined;
  return n && n > 0 ? n : undefined;
}

/** The message with the words that named a period cut out: what is left is the subject. */
function withoutPeriod(text: string, range: DateRange | undefined): string {
  if (!range) return text;
  const cut = text.replace(new RegExp(escapeRegExp(range.matched), 'i'), ' ');
  return cut.replace(/\s+(?:from|on|in|since|during|of|at|for|between)\s*(?=[?!.]*\s*$)/i, '').replace(/\s{2,}/g, ' ').trim();
}

/** What is left of a search or delete target once filler words are gone. */
function cleanTarget(text: string): string {
  return text
    .replace(/[?!.]+\s*$/, '')
    .replace(/^\s*(?:for|about|on|regarding|with|mentioning|containing|of|that|the|my|a|an|any|all|anything|something)\b\s*/gi, '')
    .replace(/^\s*(?:memory|memories|note|notes|entry|entries|things?|stuff)\b\s*/i, '')
    .replace(/^\s*(?:about|on|regarding|with|mentioning|containing|called|titled|named|that\s+says|saying|of|for)\b\s*/i, '')
    .replace(/^\s*(?:the|a|an|my)\s+/i, '')
    .replace(/^["'“]|["'”]$/g, '')
    .replace(/\s{2,}/g, ' ')
    .trim();
}

const SEARCH_PATTERNS = [
  /^(?:search|find|look\s+for|look\s+up|lookup|grep)\s+(?:(?:in|through)\s+)?(?:(?:my|the|[\w.-]+(?:'|’)s)\s+)?(?:memories|notes)?\s*(?:for|about|on|with|mentioning|containing)?\s*(.+)$/i,
  /\bwhat\s+(?:do|have)\s+(?:i|you|we)\s+(?:know|have|got|stored|saved|noted|written|kept)\s+(?:about|on|regarding)\s+(.+)$/i,
  /\bwhat\s+did\s+i\s+(?:store|save|note|say|tell\s+you|write|remember)\s+(?:about|on|regarding)\s+(.+)$/i,
  /\bdo\s+you\s+remember\s+(?:anything\s+about\s+|something\s+about\s+|about\s+)?(.+?)\??$/i,
  /\b(?:anything|something|memories|notes)\s+(?:about|on|regarding|mentioning)\s+(.+)$/i,
  /\bremind\s+me\s+(?:about|of)\s+(.+)$/i,
];

const RETRIEVE_PATTERN =
  /\b(?:what\s+(?:did|have|has)\s+\S+\s+(?:store|stored|save|saved|note|noted|remember|remembered|write|written|add|added|tell\s+you|told\s+you)|list|show|display|recall|give\s+me|what(?:'s|\s+is)\s+in\s+my|what\s+do\s+you\s+(?:remember|have|know)|(?:my|all|the|recent|latest)\s+(?:memories|notes)|memories|everything\s+i)\b/i;

/** The intent of one user message; `now` fixes what "yesterday" means. */
export function parseIntent(message: string, now: Date): Intent {
  const text = normalize(message);
  const other = otherUser(text);
  const withUser = <T extends Intent>(intent: T): T => (other ? { ...intent, otherUser: other } : intent);

  if (DELETE_VERB.test(text)) {
    const rest = text.replace(DELETE_VERB, '');
    const idMatch = /\b(?:id|memory)\s+["']?([\w.:-]+)["']?\s*[.!]?$/i.exec(rest) ?? /^["']?([\w.:-]+)["']?\s*[.!]?$/.exec(rest);
    const id = idMatch?.[1] && ID_LIKE.test(idMatch[1]) ? idMatch[1] : undefined;
    const query = cleanTarget(rest.replace(/^(?:about\s+)?/i, '').replace(/(?:'|’)s\s+(?=memor|note)/i, ' '));
    const withoutOwner = other ? cleanTarget(query.replace(new RegExp(`^${escapeRegExp(other)}\\b`, 'i'), '')) : query;
    return withUser({ kind: 'delete', query: withoutOwner || query, ...(id ? { id } : {}) });
  }

  const items = storeItems(message);
  if (items) return withUser({ kind: 'store', items });

  const get = /^(?:show|get|open|read|display|fetch)\s+(?:me\s+)?(?:the\s+)?memory\s+(?:with\s+)?(?:id\s+)?["']?([\w.:-]+)["']?\s*[.?!]?$/i.exec(text);
  if (get?.[1] && ID_LIKE.test(get[1])) return withUser({ kind: 'get', id: get[1] });

  const range = parseDateRange(text, now);
  const limit = limitOf(text);
  const subject = withoutPeriod(text, range);
  for (const re of SEARCH_PATTERNS) {
    const m = re.exec(subject);
    const query = m?.[1] ? cleanTarget(m[1]) : '';
    if (query) return withUser({ kind: 'search', query, ...(range ? { range } : {}), ...(limit ? { limit } : {}) });
  }

  if (RETRIEVE_PATTERN.test(text) || other || (range && /\b(?:stor|sav|not|memor|remember|add|wr[io]te)/i.test(text))) {
    const tags = tagsAskedFor(text);
    return withUser({ kind: 'retrieve', ...(range ? { range } : {}), ...(limit ? { limit } : {}), ...(tags.length ? { tags } : {}) });
  }

  if (/^(?:hi|hello|hey|good\s+(?:morning|afternoon|evening)|help|what\s+can\s+you\s+do)\b/i.test(text)) return { kind: 'greeting' };
  return { kind: 'none' };
}
