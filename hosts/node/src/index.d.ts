// The package's types: the component's records come from the declarations jco derives
// from the WIT (`npm run build` writes them to generated/interfaces/).
import type * as Conn from '../generated/interfaces/whatsapp-connector-connection.js';
import type * as Send from '../generated/interfaces/whatsapp-connector-send-message.js';
import type * as Template from '../generated/interfaces/whatsapp-connector-send-template.js';
import type * as Media from '../generated/interfaces/whatsapp-connector-send-media.js';
import type * as Interactive from '../generated/interfaces/whatsapp-connector-send-interactive.js';
import type * as Flow from '../generated/interfaces/whatsapp-connector-send-flow.js';
import type * as Groups from '../generated/interfaces/whatsapp-connector-groups.js';
import type * as Blocking from '../generated/interfaces/whatsapp-connector-block-users.js';
import type * as Reaction from '../generated/interfaces/whatsapp-connector-send-reaction.js';
import type * as Location from '../generated/interfaces/whatsapp-connector-send-location.js';
import type * as Read from '../generated/interfaces/whatsapp-connector-mark-as-read.js';
import type * as Download from '../generated/interfaces/whatsapp-connector-download-media.js';
import type * as Upload from '../generated/interfaces/whatsapp-connector-upload-media.js';
import type * as Received from '../generated/interfaces/whatsapp-connector-message-received.js';
import type * as Status from '../generated/interfaces/whatsapp-connector-status-updated.js';
import type * as Echoed from '../generated/interfaces/whatsapp-connector-message-echoed.js';
import type * as Preference from '../generated/interfaces/whatsapp-connector-preference-changed.js';
import type * as Group from '../generated/interfaces/whatsapp-connector-group-updated.js';

export type Connection = Conn.Connection;
export type Account = Conn.Account;
export type SendInput = Send.Input;
export type SendOutput = Send.Output;
export type Registration = Received.Registration;
export type Removal = Received.Removal;
export type WebhookRequest = Received.WebhookRequest;
export type WebhookResponse = Received.WebhookResponse;
export type WebhookSecrets = Received.WebhookSecrets;
export type MessageProperties = Received.Properties;
export type StatusProperties = Status.Properties;
export type EchoProperties = Echoed.Properties;
export type PreferenceProperties = Preference.Properties;
export type GroupProperties = Group.Properties;

/** An event in the trigger's documented output form (snake_case, as Meta names it). */
export type EventJson = { object: string; entry: Record<string, unknown> };

/** A trigger's answer: the handshake's response, or one event per message (status, echo, preference, group update). */
export type Outcome =
  | { respond: WebhookResponse; events?: undefined }
  | { respond?: undefined; events: Array<{ dedupKey: string; event: EventJson }> };

export interface Options {
  /** Send every request for a Meta host of the manifest to this base URL (tests: http://127.0.0.1:PORT). */
  graphUrl?: string;
  /** Wall-clock limit of one call, waiting on HTTP included; default 32 000. */
  timeoutMs?: number;
  /** The same for Download Media and Upload Media; default 600 000 (a 100 MB file). */
  mediaTimeoutMs?: number;
  /** Response body bytes the component may read per outbound request; default 2 MiB. */
  maxResponseBytes?: number;
  /** The same for a file from Meta's media host; default 128 MiB. */
  maxMediaBytes?: number;
  /** Worker threads, each with an instance of the component; default 1. */
  workers?: number;
  /** Narrows the manifest's `allowedOutboundHosts` (it can never widen it). */
  allowedOutboundHosts?: string[];
  /** Replace the worker's live `process.env` with a frozen copy (jco reads it on every call); default true. */
  freezeEnv?: boolean;
}

export declare const DEFAULTS: Readonly<
  Required<Pick<Options, 'timeoutMs' | 'mediaTimeoutMs' | 'maxResponseBytes' | 'maxMediaBytes' | 'workers'>>
>;

/**
 * An error of the connector. `kind` is the WIT error variant's case (`invalid-input`,
 * `unauthorized`, `rate-limited`, `graph`, `transport`, `unexpected-response`,
 * `invalid-signature`, `invalid-payload`, …) or the host's (`timeout`, `trap`, `host`);
 * the case's fields are beside it (`field`, `reason`, `status`, `code`, `hint`,
 * `retryAfter`, …; the component's own `message` is `detail`).
 */
export declare class ConnectorError extends Error {
  readonly name: 'ConnectorError';
  readonly kind: string;
  readonly detail?: string;
  readonly [field: string]: unknown;
}

/** The HTTP status for a refused webhook request, by its error kind. */
export declare function webhookErrorStatus(kind: string): number;

export declare class Connector {
  testConnection(connection: Connection): Promise<Account>;
  send(connection: Connection, input: SendInput): Promise<SendOutput>;
  sendTemplate(connection: Connection, input: Template.Input): Promise<SendOutput>;
  sendMedia(connection: Connection, input: Media.Input): Promise<SendOutput>;
  sendInteractive(connection: Connection, input: Interactive.Input): Promise<SendOutput>;
  sendFlow(connection: Connection, input: Flow.Input): Promise<SendOutput>;
  createGroup(connection: Connection, input: Groups.CreateInput): Promise<Groups.Created>;
  getGroupInviteLink(connection: Connection, input: Groups.GroupInput): Promise<Groups.InviteLink>;
  resetGroupInviteLink(connection: Connection, input: Groups.GroupInput): Promise<Groups.InviteLink>;
  removeGroupParticipants(connection: Connection, input: Groups.RemoveInput): Promise<void>;
  blockUsers(connection: Connection, input: Blocking.UsersInput): Promise<Blocking.UsersOutput>;
  unblockUsers(connection: Connection, input: Blocking.UsersInput): Promise<Blocking.UsersOutput>;
  listBlockedUsers(connection: Connection, input?: Blocking.ListInput): Promise<Blocking.BlockedPage>;
  sendReaction(connection: Connection, input: Reaction.Input): Promise<SendOutput>;
  sendLocation(connection: Connection, input: Location.Input): Promise<SendOutput>;
  markAsRead(connection: Connection, input: Read.Input): Promise<void>;
  /** Streams the file to a temporary file next to `path`, renamed to `path` only once it matched. */
  downloadMedia(
    connection: Connection,
    input: Download.Input,
    path: string,
  ): Promise<Omit<Download.Output, 'fileSize'> & { fileSize: number }>;
  /** Streams the file at `path`; `fileSize` comes from the file, `filename` defaults to its name. */
  uploadMedia(
    connection: Connection,
    input: Omit<Upload.Input, 'fileSize' | 'filename'> & { filename?: string },
    path: string,
  ): Promise<Upload.Output>;
  handleWebhook(request: WebhookRequest, properties?: MessageProperties, secrets?: WebhookSecrets): Promise<Outcome>;
  handleStatusWebhook(
    request: WebhookRequest,
    properties?: StatusProperties,
    secrets?: WebhookSecrets,
  ): Promise<Outcome>;
  handleEchoWebhook(request: WebhookRequest, properties?: EchoProperties, secrets?: WebhookSecrets): Promise<Outcome>;
  handlePreferenceWebhook(
    request: WebhookRequest,
    properties?: PreferenceProperties,
    secrets?: WebhookSecrets,
  ): Promise<Outcome>;
  handleGroupWebhook(request: WebhookRequest, properties?: GroupProperties, secrets?: WebhookSecrets): Promise<Outcome>;
  newRegistration(connection: Connection, properties: MessageProperties, webhookUrl: string): Promise<Registration>;
  enable(connection: Connection, registration: Registration): Promise<void>;
  disable(connection: Connection, registration: Registration): Promise<Removal>;
  /** The worker round trip alone. */
  ping(): Promise<'pong'>;
  close(): Promise<void>;
}

/** Starts `options.workers` worker threads, each with an instance of the component. */
export declare function loadConnector(options?: Options): Promise<Connector>;
