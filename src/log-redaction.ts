/** Log redaction: credentials never reach a log line, whatever logs them. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-webhook-signature"]',
  '*.password',
  '*.dsn',
  '*.uri',
  '*.connection_config',
  'connection_config',
];
