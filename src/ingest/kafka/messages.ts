/**
 * What the source reads of a Kafka message beside its value: the model and version its headers
 * (`driftd-model` / `driftd-version`) or its key (kafka.messageKey) carry.
 *
 * Model and version may come from the headers `driftd-model` / `driftd-version` when the JSON
 * value lacks them (the value wins when both are present), then from the message key when
 * kafka.messageKey says it carries them (predictions only).
 */

import { isUtf8 } from 'node:buffer';
import type { Batch, IHeaders, KafkaMessage } from 'kafkajs';
import type { KafkaMessageKey } from '../../config/types.js';
import { type HeaderLookup, type ParsedValue, parseValue } from '../decode-batch.js';

export const MODEL_HEADER = 'driftd-model';
export const VERSION_HEADER = 'driftd-version';

/** The part of a kafkajs batch the source reads (a batch of one message when isolating). */
export type BatchView = Pick<Batch, 'topic' | 'partition' | 'highWatermark' | 'messages'>;

/**
 * Model and version a prediction message's key carries (kafka.messageKey); an empty part is
 * none. Asked for only when the value and the headers lack the field.
 */
export function keyTexts(
  key: Buffer | null | undefined,
  carries: KafkaMessageKey,
): { model?: string; version?: string } | undefined {
  if (carries === 'none' || key === null || key === undefined || key.length === 0) {
    return undefined;
  }
  const text = key.toString('utf8');
  const colon = carries === 'model:version' ? text.indexOf(':') : -1;
  const model = colon < 0 ? text : text.slice(0, colon);
  const version = colon < 0 ? '' : text.slice(colon + 1);
  return {
    ...(model !== '' ? { model } : {}),
    ...(version !== '' ? { version } : {}),
  };
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

type Keyed = ReturnType<typeof keyTexts>;

/** A prediction's model or version beside its value: its header, then its key's part. */
function sourceText(
  h: IHeaders | undefined,
  k: Keyed,
  field: 'model' | 'version',
): string | undefined {
  return headerText(h, field === 'model' ? MODEL_HEADER : VERSION_HEADER) ?? k?.[field];
}

function headersOf(m: KafkaMessage): HeaderLookup | undefined {
  const h = m.headers;
  if (h === undefined) return undefined;
  return (field) => sourceText(h, undefined, field);
}

/** A prediction's model/version beside its value: the headers, then the key (if configured). */
export function predictionSourcesOf(
  m: KafkaMessage,
  messageKey: KafkaMessageKey,
): HeaderLookup | undefined {
  const h = m.headers;
  const k = keyTexts(m.key, messageKey);
  if (k === undefined) return headersOf(m);
  return (field) => sourceText(h, k, field);
}

/** A message's value parsed (model and version from the headers when the value lacks them). */
export function parse(m: KafkaMessage, maxMessageBytes: number): ParsedValue {
  return parseValue(m.value, maxMessageBytes, headersOf(m));
}

/** A prediction's model/version texts beside its value, for the decode thread (none: undefined). */
export function headerTexts(i: number, messages: KafkaMessage[], messageKey: KafkaMessageKey) {
  const m = messages[i]!;
  const h = m.headers;
  const k = keyTexts(m.key, messageKey);
  if (
    k === undefined &&
    (h === undefined || (h[MODEL_HEADER] === undefined && h[VERSION_HEADER] === undefined))
  ) {
    return undefined;
  }
  const model = sourceText(h, k, 'model');
  const version = sourceText(h, k, 'version');
  return {
    ...(model !== undefined ? { model } : {}),
    ...(version !== undefined ? { version } : {}),
  };
}

/**
 * Whether `event` took its version from a `driftd-version` header whose bytes are not UTF-8:
 * decoded, they became U+FFFD, and the event would be stored under a version other than sent
 * (as a value that is not UTF-8 would be: reason invalid_utf8). A model header cannot match a
 * configured model that way, so only the version is checked.
 */
export function versionFromInvalidHeader(
  headers: IHeaders | undefined,
  event: { version: string },
): boolean {
  const v = headers?.[VERSION_HEADER];
  const first = Array.isArray(v) ? v[0] : v;
  return Buffer.isBuffer(first) && !isUtf8(first) && first.toString('utf8') === event.version;
}
