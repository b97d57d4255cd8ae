/** The provider adapters and the pieces they share. */
export { createBflProvider, capabilities as bflCapabilities, mapBflSize, isTrustedPollingUrl, BFL_DEFAULT_BASE_URL, type BflOptions } from './bfl';
export { createKieProvider, capabilities as kieCapabilities, mapKieSize, kieModel, KIE_DEFAULT_BASE_URL, type KieOptions } from './kie';
export { createNovitaProvider, capabilities as novitaCapabilities, mapNovitaSize, NOVITA_DEFAULT_BASE_URL } from './novita';
export { createCrunProvider, capabilities as crunCapabilities, mapCrunSize, CRUN_DEFAULT_BASE_URL } from './crun';
export { CallbackReceiver, type CallbackReceiverOptions, type CallbackEvent } from './callbacks';
export { DEFAULT_POLL_SETTINGS, pollSettings, pollTask, type PollSettings, type PollStep } from './poll';
export type { AdapterOptions } from './common';
