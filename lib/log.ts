import pino from 'pino';
import { config } from './config';

// One JSON line per event; `component` says which process wrote it.
export function makeLogger(component: string) {
  return pino({ level: config.logLevel, base: { component } });
}
