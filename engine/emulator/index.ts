/** Public entry of the provider emulator: start it, configure faults, read its counters. */
export { startEmulator, DEFAULT_OPTIONS } from './server';
export type { CallbackFaults, DownloadFaults, FaultConfig, OutcomeFaults, PhaseFaults, PollFaults, SubmitFaults } from './faults';
export { PROMPT_TRIGGERS } from './faults';
export type {
  DuplicateSubmission,
  Emulator,
  EmulatorOptions,
  EmulatorStats,
  ErrorStatusStyle,
  InjectedCounts,
  ProviderName,
  TaskSummary,
} from './types';
export { bflSignature, kieSignature } from './callbacks';
