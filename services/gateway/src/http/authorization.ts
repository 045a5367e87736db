/**
 * The token of an `Authorization: Token <token>` header (a session token, or an organization's API key `psk_…`), or
 * undefined when the header is missing or not of that form. The scheme is matched case-insensitively, as HTTP
 * defines authentication schemes (RFC 9110 §11.1); the token itself is compared as sent.
 */
export function presentedToken(header: string | undefined): string | undefined {
  return /^token +([A-Za-z0-9_-]{1,200}) *$/i.exec(header ?? '')?.[1];
}
