/**
 * Artifact Markdown → HTML that cannot run anything: `marked` parses, `sanitize-html` keeps only
 * a small allow-list of formatting tags and attributes (no script, style, iframe, event handlers,
 * no `javascript:` or `data:` links). Raw HTML inside the Markdown goes through the same filter.
 */
import { marked } from 'marked';
import sanitizeHtml from 'sanitize-html';
import { trustedHtml, type SafeHtml } from './html.ts';

const allowedTags = [
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'blockquote', 'pre', 'code', 'em', 'strong', 'del',
  'ul', 'ol', 'li', 'a', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
];

export function renderMarkdown(source: string): SafeHtml {
  const parsed = marked.parse(source, { async: false, gfm: true });
  const clean = sanitizeHtml(parsed, {
    allowedTags,
    allowedAttributes: { a: ['href', 'title', 'rel'], th: ['align'], td: ['align'] },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowProtocolRelative: false,
    // A link out of an artifact opens without handing the console's page to the target.
    // Artifact headings start two levels down, below the page's own h1 and its h2 sections, so
    // an artifact cannot take over the page's outline.
    transformTags: {
      a: sanitizeHtml.simpleTransform('a', { rel: 'noopener noreferrer nofollow' }),
      h1: 'h3',
      h2: 'h4',
      h3: 'h5',
      h4: 'h6',
      h5: 'h6',
    },
    disallowedTagsMode: 'escape',
  });
  return trustedHtml(clean);
}
