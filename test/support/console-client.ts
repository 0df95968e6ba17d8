/**
 * Drives the web console through `app.inject` as a browser would, without one: signs in with an
 * API key, keeps the session cookie, reads a page's forms and posts them back.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

export interface ConsoleForm {
  action: string;
  fields: Record<string, string>;
}

/** The hidden inputs of each `<form method="post">` on a page, in page order. */
export function postForms(page: string): ConsoleForm[] {
  return [...page.matchAll(/<form method="post" action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)].map(([, action, inner]) => ({
    action: action!.replaceAll('&amp;', '&'),
    fields: Object.fromEntries(
      [...inner!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, name, value]) => [name!, value!.replaceAll('&amp;', '&').replaceAll('&quot;', '"')]),
    ),
  }));
}

export class ConsoleClient {
  readonly app: FastifyInstance;
  cookie = '';

  constructor(app: FastifyInstance) {
    this.app = app;
  }

  async get(url: string): Promise<LightMyRequestResponse> {
    return this.app.inject({ method: 'GET', url, headers: this.cookie ? { cookie: this.cookie } : {} });
  }

  async post(url: string, form: Record<string, string>, cookie = this.cookie): Promise<LightMyRequestResponse> {
    return this.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
      payload: new URLSearchParams(form).toString(),
    });
  }

  /** Signs in; returns the sign-in response (303 on success). */
  async signIn(apiKey: string): Promise<LightMyRequestResponse> {
    const login = await this.app.inject({ method: 'GET', url: '/console/login' });
    const loginCookie = login.cookies.find((c) => c.name === 'tandem_login')!;
    const token = /name="_login" value="([^"]+)"/.exec(login.body)![1]!;
    const res = await this.post('/console/login', { _login: token, apiKey }, `tandem_login=${loginCookie.value}`);
    const session = res.cookies.find((c) => c.name === 'tandem_session');
    if (session) this.cookie = `tandem_session=${session.value}`;
    return res;
  }

  /** The decision form of a review page. */
  async decisionForm(reviewId: string): Promise<ConsoleForm> {
    const page = await this.get(`/console/reviews/${encodeURIComponent(reviewId)}`);
    const form = postForms(page.body).find((f) => f.action.endsWith('/decision'));
    if (!form) throw new Error(`no decision form on the page of ${reviewId} (status ${page.statusCode})`);
    return form;
  }
}
