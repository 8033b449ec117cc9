/**
 * The agni.yaml an image carries (`agni build` copies the function directory to /fn): the same
 * file with every value marked secret replaced, so no registry the image is pushed to holds one.
 * Marked secret today: a webhook trigger's `secret` (the shared secret and the HMAC key). The
 * real secret travels only in the deploy upload to the server. Pure: text in, text out.
 */
import { isMap, isScalar, isSeq, parseDocument, Scalar, visit } from 'yaml';

/** What replaces a secret: shorter than any valid secret, so a deploy of the image's file fails clearly. */
export const SECRET_PLACEHOLDER = 'REMOVED';
const NOTE = ' removed by agni build: set the real secret before deploying this file';

export interface RedactedManifest {
  text: string;
  /** how many values were replaced */
  redacted: number;
}

/** `text` with each `triggers[i].secret` replaced; comments that quote a secret are dropped too. */
export function redactManifestText(text: string): RedactedManifest {
  const doc = parseDocument(text);
  const secrets: string[] = [];
  const triggers = isMap(doc.contents) ? doc.contents.get('triggers', true) : undefined;
  if (isSeq(triggers)) {
    for (const item of triggers.items) {
      if (!isMap(item)) continue;
      const pair = item.items.find((p) => isScalar(p.key) && p.key.value === 'secret');
      if (!pair) continue;
      const v = isScalar(pair.value) ? pair.value.value : undefined;
      if (v !== undefined && v !== null) secrets.push(String(v));
      const placeholder = new Scalar(SECRET_PLACEHOLDER);
      placeholder.comment = NOTE;
      // Aliases of the secret's anchor now name the placeholder.
      if (isScalar(pair.value) && pair.value.anchor) placeholder.anchor = pair.value.anchor;
      pair.value = placeholder;
    }
  }
  if (secrets.length === 0) return { text, redacted: 0 };
  // A secret may also sit in a comment ("# old secret: ...") or be written out again elsewhere.
  const quotes = (c: string | null | undefined) => !!c && secrets.some((s) => c.includes(s));
  if (quotes(doc.commentBefore)) doc.commentBefore = null;
  if (quotes(doc.comment)) doc.comment = null;
  visit(doc, {
    Node(_k, node) {
      if (quotes(node.commentBefore)) node.commentBefore = null;
      if (quotes(node.comment)) node.comment = null;
      if (isScalar(node) && secrets.includes(String(node.value))) node.value = SECRET_PLACEHOLDER;
    },
  });
  return { text: doc.toString(), redacted: secrets.length };
}
