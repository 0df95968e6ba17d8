/**
 * Workflow histories to and from their standard JSON form (proto3 JSON, the same as
 * `temporal workflow show -o json` and the Web UI's download), for recorded replay fixtures.
 *
 * Why not the SDK's `historyToJSON` / `historyFromJSON` (@temporalio/common/lib/proto-utils):
 * with this install they throw "type must be a Type". npm placed protobufjs 7 at the top of
 * node_modules (for @grpc/proto-loader) and a separate copy of protobufjs 8 under each of
 * @temporalio/common, /proto and /worker; proto-utils takes the History type from
 * @temporalio/proto's copy and the JSON codec from @temporalio/common's, and protobufjs checks
 * `instanceof Type` across them. Here both come from the copy @temporalio/proto itself loads,
 * which is correct whether or not the copies are ever deduplicated.
 */
import { createRequire } from 'node:module';
import type { History } from '@temporalio/common/lib/proto-utils.js';

interface ProtoType {
  fromObject(object: unknown): unknown;
}
interface ProtoJson {
  toJson(type: ProtoType, message: unknown): unknown;
  fromJson(type: ProtoType, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

function loadCodec(): { historyType: ProtoType; protojson: ProtoJson } {
  const fromHere = createRequire(import.meta.url);
  // The @temporalio/proto that @temporalio/common (and so the SDK) uses, and the protobufjs it uses.
  const fromCommon = createRequire(fromHere.resolve('@temporalio/common'));
  const fromProto = createRequire(fromCommon.resolve('@temporalio/proto'));
  const proto: unknown = fromProto('@temporalio/proto');
  const { patchProtobufRoot } = fromProto('@temporalio/proto/lib/patch-protobuf-root') as {
    patchProtobufRoot(root: unknown): { lookupType(name: string): ProtoType };
  };
  const protojson = fromProto('protobufjs/ext/protojson') as ProtoJson;
  return { historyType: patchProtobufRoot(proto).lookupType('temporal.api.history.v1.History'), protojson };
}

let codec: ReturnType<typeof loadCodec> | undefined;

/** A History (e.g. from `handle.fetchHistory()`) as a proto3 JSON value. */
export function historyToJsonValue(history: History): unknown {
  codec ??= loadCodec();
  return codec.protojson.toJson(codec.historyType, codec.historyType.fromObject(history));
}

/** Parses proto3 JSON (as written by `historyToJsonValue` or the Temporal CLI) into a History. */
export function historyFromJsonValue(json: unknown): History {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { events?: unknown }).events)) {
    throw new TypeError('not a workflow history: expected an object with an "events" array');
  }
  codec ??= loadCodec();
  // Unknown fields come from newer servers; replay does not need them.
  return codec.protojson.fromJson(codec.historyType, json, { ignoreUnknownFields: true }) as History;
}
