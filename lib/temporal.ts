import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config } from './config';

export async function temporalClient(): Promise<Client> {
  const connection = await Connection.connect({ address: config.temporalAddress });
  return new Client({ connection, namespace: config.temporalNamespace });
}

export async function workerConnection(): Promise<NativeConnection> {
  return NativeConnection.connect({ address: config.temporalAddress });
}
