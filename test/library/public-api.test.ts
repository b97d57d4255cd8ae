/**
 * The shapes of the public API (`import … from 'fluxgraph'`), pinned by type assertions that
 * `tsc --noEmit` checks in npm test; the runtime half checks the exports exist.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as lib from '../../engine/index';
import type {
  Estimate,
  EventListener,
  PipelineInput,
  PipelineSource,
  RunCallOptions,
  RunEvent,
  RunHistoryEntry,
  Runner,
  RunnerOptions,
  RunOptions,
  RunStatus,
  RunSummary,
  ValidationResult,
} from '../../engine/index';

describe('the public API', () => {
  it('exports the runner, the engine and its parts', () => {
    for (const name of ['createRunner', 'runPipeline', 'validatePipeline', 'createRegistry', 'defineNode', 'EngineError', 'FileArtifactStore', 'createProviders', 'estimatePipeline', 'pipelineJsonSchema', 'loadEnv']) {
      expect(typeof (lib as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('createRunner takes the options of the issue and resolves to a Runner', () => {
    expectTypeOf(lib.createRunner).parameters.toEqualTypeOf<[options?: RunnerOptions]>();
    expectTypeOf(lib.createRunner).returns.toEqualTypeOf<Promise<Runner>>();
    expectTypeOf<RunnerOptions>().toEqualTypeOf<{
      cacheDir?: string;
      outDir?: string;
      env?: Record<string, string | undefined>;
      signal?: AbortSignal;
      onEvent?: EventListener;
      onNotice?: (line: string) => void;
      registry?: lib.NodeRegistry;
      emulator?: 'auto' | 'always' | 'never';
    }>();
  });

  it('a Runner runs, resumes, validates, prices, lists and closes', () => {
    expectTypeOf<Runner['run']>().toEqualTypeOf<(pipeline: PipelineSource, options?: RunCallOptions) => Promise<RunSummary>>();
    expectTypeOf<Runner['resume']>().returns.toEqualTypeOf<Promise<RunSummary>>();
    expectTypeOf<Runner['validate']>().returns.toEqualTypeOf<Promise<ValidationResult>>();
    expectTypeOf<Runner['estimate']>().returns.toEqualTypeOf<Promise<Estimate>>();
    expectTypeOf<Runner['runs']>().returns.toEqualTypeOf<RunHistoryEntry[]>();
    expectTypeOf<Runner['close']>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf<PipelineSource>().toEqualTypeOf<string | URL | PipelineInput>();
    expectTypeOf<RunHistoryEntry>().toHaveProperty('status').toEqualTypeOf<RunStatus>();
    expectTypeOf<RunHistoryEntry>().not.toHaveProperty('pipeline');
  });

  it('runPipeline keeps its signature: a document and RunOptions to a RunSummary', () => {
    expectTypeOf(lib.runPipeline).parameters.toEqualTypeOf<[doc: lib.Pipeline, options: RunOptions]>();
    expectTypeOf(lib.runPipeline).returns.toEqualTypeOf<Promise<RunSummary>>();
    expectTypeOf<RunOptions>().toHaveProperty('onEvent').toEqualTypeOf<EventListener | undefined>();
  });

  it('summaries and events are typed data', () => {
    expectTypeOf<RunSummary['status']>().toEqualTypeOf<'done' | 'failed' | 'partial' | 'cancelled'>();
    expectTypeOf<RunSummary['imagesWritten']>().toEqualTypeOf<string[]>();
    expectTypeOf<RunEvent['type']>().toEqualTypeOf<lib.RunEventType>();
    expectTypeOf<Extract<RunEvent, { type: 'runDone' }>>().toHaveProperty('summary').toEqualTypeOf<RunSummary>();
    expectTypeOf<lib.EngineError['code']>().toEqualTypeOf<lib.ErrorCode>();
  });
});
