/**
 * Server-rendered HTML for the web console: a tagged template that escapes every interpolated
 * value (escape-html) unless it is already `SafeHtml` — markup built by this same tag, or the
 * sanitiser's output. Everything a page shows from outside (titles, artifact text, comments,
 * reviewer names) goes through it, so nothing from those can become markup.
 */
import escapeHtml from 'escape-html';

export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** `html\`<p>${untrusted}</p>\`` — values are escaped; arrays are joined; null/undefined/false render nothing. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

/** Markup that is known to be safe (sanitised elsewhere); never pass text from outside. */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
