/**
 * AWS service models (botocore's JSON service descriptions, Apache-2.0, vendored
 * in ./botocore with their licence) loaded once per process.
 *
 * They are vendored rather than read from the machine's botocore so that the
 * shapes the API accepts and answers are pinned with the code: a newer or older
 * botocore on a host cannot change what the cloud parses. Documentation strings
 * are dropped on load (they are most of the file).
 *
 * The same models drive the EC2 protocol (EC2) and the Query protocol (STS, IAM),
 * so they live here rather than under api/ec2/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

export type Protocol = 'ec2' | 'query';

export interface ShapeRef {
  shape: string;
  locationName?: string;
  queryName?: string;
  flattened?: boolean;
  resultWrapper?: string;
}

export interface Shape {
  type: 'structure' | 'list' | 'map' | 'string' | 'integer' | 'long' | 'boolean' | 'double' | 'float' | 'timestamp' | 'blob';
  members?: Record<string, ShapeRef>;
  required?: string[];
  member?: ShapeRef;
  key?: ShapeRef;
  value?: ShapeRef;
  enum?: string[];
  min?: number;
  max?: number;
  flattened?: boolean;
  locationName?: string;
  error?: { code?: string; httpStatusCode?: number };
  exception?: boolean;
}

export interface Operation {
  name: string;
  input?: ShapeRef;
  output?: ShapeRef;
}

export interface ServiceModel {
  /** 'ec2', 'sts', 'iam' */
  name: string;
  protocol: Protocol;
  apiVersion: string;
  xmlNamespace: string;
  operations: Map<string, Operation>;
  shapes: Map<string, Shape>;
  shape(name: string): Shape;
}

const FILES: Record<string, string> = {
  ec2: 'ec2-2016-11-15.json.gz',
  sts: 'sts-2011-06-15.json.gz',
  iam: 'iam-2010-05-08.json.gz',
};

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'documentation' && k !== 'examples') out[k] = strip(x);
    return out;
  }
  return v;
}

const cache = new Map<string, ServiceModel>();

export function loadService(name: keyof typeof FILES | string): ServiceModel {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = FILES[name];
  if (!file) throw new Error(`no service model for ${name}`);
  const raw = JSON.parse(gunzipSync(readFileSync(path.join(__dirname, 'botocore', file))).toString('utf8')) as {
    metadata: { protocol: Protocol; apiVersion: string; xmlNamespace?: string; endpointPrefix: string };
    operations: Record<string, Operation>;
    shapes: Record<string, Shape>;
  };
  const shapes = new Map(Object.entries(raw.shapes).map(([k, v]) => [k, strip(v) as Shape]));
  const operations = new Map(Object.entries(raw.operations).map(([k, v]) => [k, strip(v) as Operation]));
  const ns = raw.metadata.xmlNamespace ?? '';
  const model: ServiceModel = {
    name,
    protocol: raw.metadata.protocol,
    apiVersion: raw.metadata.apiVersion,
    xmlNamespace: ns.endsWith('/') ? ns : ns + '/',
    operations,
    shapes,
    shape(n: string) {
      const s = shapes.get(n);
      if (!s) throw new Error(`${name} model has no shape ${n}`);
      return s;
    },
  };
  cache.set(name, model);
  return model;
}
