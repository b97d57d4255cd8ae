/**
 * The fluxgraph library (`import … from 'fluxgraph'`). `createRunner` runs pipelines the way the
 * CLI does (ledger, cache, resume, history, budget); the lower-level parts are here for hosts
 * that compose their own (a custom store, custom node types, their own providers).
 */
export { createRunner } from './host/create-runner';
export type {
  CheckOptions,
  EstimateCallOptions,
  PipelineSource,
  ResumeCallOptions,
  RunCallOptions,
  RunHistoryEntry,
  Runner,
  RunnerOptions,
} from './host/create-runner';

export { newRunId, runPipeline } from './core/run-pipeline';
export type { GeneratedImageRecord, RunOptions, TaskHooks, TaskKey } from './core/run-options';
export { validatePipeline } from './core/validate';
export type { ValidateOptions, ValidationIssue, ValidationResult } from './core/validate';
export { PIPELINE_VERSION, pipelineJsonSchema, pipelineSchema } from './core/pipeline-schema';
export type { Pipeline, PipelineEdge, PipelineInput, PipelineNode, PipelineSettings } from './core/pipeline-schema';
export { EngineError, isEngineError } from './core/errors';
export { RUN_STATUSES, formatCost, formatUsd, fromMicros, isResumable, toMicros } from './core/money';
export type { RunMoney, RunStatus } from './core/money';
export type { ErrorCode, ErrorDetails } from './core/errors';
export type { EventListener, FailureRecord, NodeStatus, RunEvent, RunEventOf, RunEventType, RunSummary } from './core/events';

export { defineNode } from './core/define-node';
export type { AnyNodeDefinition, NodeContext, NodeDefinition } from './core/define-node';
export { NodeRegistry } from './core/registry';
export type { ImageAsset, InputPort, OutputPort, PortKind } from './core/ports';
export type { GeneratedImage, ImageRequest, ModelId, Provider, ProviderCapabilities, ProviderSet, TaskRef } from './core/provider';
export type { ArtifactStore } from './core/store';
export { builtinNodes, createRegistry } from '../nodes/index';

export { createProviders, PROVIDER_IDS } from './host/create-providers';
export type { CreateProvidersOptions, HostProviders, ProviderId } from './host/create-providers';
export { loadEnv } from './host/env';
export { estimatePipeline } from './host/estimate';
export type { Estimate, EstimateOptions, NodeEstimate } from './host/estimate';
export { FileArtifactStore } from './store/artifacts';
