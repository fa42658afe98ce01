import { EventEmitter } from 'node:events';
import type { CapacityWindow, ConvergeOutcome, Target, Transition } from '../capabilities/capacity/model.ts';
import type { ReaderRecord } from '../capabilities/capacity/store.ts';

/**
 * What happened, for whoever reports it (the chat thread, the live page, logs). Emitted by the process that
 * did it; subscribers must not throw.
 */
export interface ChronopsEvents {
  'window.created': { window: CapacityWindow; transitions: Transition[]; warnings: string[] };
  'window.cancelled': { window: CapacityWindow; actor: string };
  'transition.started': { transition: Transition; target: Target | null; executionId: string };
  'transition.done': {
    transition: Transition;
    target: Target | null;
    executionId: string;
    outcome: ConvergeOutcome;
    durationMs: number;
  };
  'transition.failed': { transition: Transition; error: string; willRetry: boolean };
  'transition.missed': { transition: Transition };
  'reader.available': { reader: ReaderRecord; timeToReadyMs: number };
  'reader.failed': { reader: ReaderRecord; reason: string };
}

export type EventName = keyof ChronopsEvents;

export class EventBus {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  emit<K extends EventName>(name: K, payload: ChronopsEvents[K]): void {
    for (const listener of this.emitter.listeners(name)) {
      try {
        (listener as (p: ChronopsEvents[K]) => void)(payload);
      } catch {
        // A reporter's failure must not stop the work that reported.
      }
    }
  }

  on<K extends EventName>(name: K, listener: (payload: ChronopsEvents[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }
}
