/** A URL with its password replaced by `***`, for banners and logs; anything else comes back unchanged. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (!url.password) return text;
    url.password = '***';
    return url.toString();
  } catch {
    // Not a URL the WHATWG parser takes, but it may still hold `user:password@`.
    return text.replace(/\/\/([^:/@\s]*):[^@\s]*@/, '//$1:***@');
  }
}

/** What no log line may contain: the API key and the database password, as given and as URL-decoded. */
export function secretsOf(config: { API_KEY?: string | undefined; DATABASE_URL?: string | undefined }): string[] {
  const secrets = config.API_KEY ? [config.API_KEY] : [];
  try {
    const password = config.DATABASE_URL ? new URL(config.DATABASE_URL).password : '';
    if (password) secrets.push(password, decodeURIComponent(password));
  } catch {
    // An unparsable URL fails at connect, in a message that does not echo it.
  }
  return [...new Set(secrets)];
}
