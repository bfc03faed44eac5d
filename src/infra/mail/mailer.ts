/** The mail port. Adapters: `log` (development and tests: logged and kept in the dev outbox) and `smtp`. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  readonly name: string;
  send(message: MailMessage): Promise<{ messageId: string | null }>;
}
