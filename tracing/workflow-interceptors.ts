/**
 * Workflow interceptors, bundled with the workflow code (worker/build-bundle.ts, worker/create-worker.ts).
 * A workflow is traced when its start carried a trace: then @temporalio/interceptors-opentelemetry makes
 * its spans (the run, each activity it schedules, signals, updates) and passes the context on to the
 * activities. Otherwise every call goes straight through and OpenTelemetry is never evaluated in the
 * sandbox. The choice is made once, from the start's headers, which the history holds: a replay makes the
 * same choice, and the interceptors add no command either way.
 */
import type * as Otel from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type {
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
  WorkflowInternalsInterceptor,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/** The header the client interceptor puts the caller's context in (`TRACE_HEADER` of the package). */
const traceHeader = '_tracer-data';

type Interceptors = {
  inbound: Required<WorkflowInboundCallsInterceptor>;
  outbound: Required<
    Pick<
      WorkflowOutboundCallsInterceptor,
      'scheduleActivity' | 'scheduleLocalActivity' | 'startChildWorkflowExecution' | 'signalWorkflow' | 'continueAsNew' | 'getLogAttributes'
    >
  >;
  internals: Required<Pick<WorkflowInternalsInterceptor, 'dispose'>>;
};

function load(): Interceptors {
  // A require in a function: webpack bundles the package but runs it only for the first traced workflow.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const otel = require('@temporalio/interceptors-opentelemetry/lib/workflow') as typeof Otel;
  return {
    inbound: new otel.OpenTelemetryInboundInterceptor(),
    outbound: new otel.OpenTelemetryOutboundInterceptor(),
    internals: new otel.OpenTelemetryInternalsInterceptor(),
  };
}

export const interceptors = (): WorkflowInterceptors => {
  let otel: Interceptors | undefined;
  return {
    inbound: [
      {
        execute: (input, next) => {
          if (input.headers[traceHeader]) otel = load();
          return otel ? otel.inbound.execute(input, next) : next(input);
        },
        handleSignal: (input, next) => (otel ? otel.inbound.handleSignal(input, next) : next(input)),
        handleUpdate: (input, next) => (otel ? otel.inbound.handleUpdate(input, next) : next(input)),
        validateUpdate: (input, next) => (otel ? otel.inbound.validateUpdate(input, next) : next(input)),
        handleQuery: (input, next) => (otel ? otel.inbound.handleQuery(input, next) : next(input)),
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => (otel ? otel.outbound.scheduleActivity(input, next) : next(input)),
        scheduleLocalActivity: (input, next) => (otel ? otel.outbound.scheduleLocalActivity(input, next) : next(input)),
        startChildWorkflowExecution: (input, next) => (otel ? otel.outbound.startChildWorkflowExecution(input, next) : next(input)),
        signalWorkflow: (input, next) => (otel ? otel.outbound.signalWorkflow(input, next) : next(input)),
        continueAsNew: (input, next) => (otel ? otel.outbound.continueAsNew(input, next) : next(input)),
        getLogAttributes: (input, next) => (otel ? otel.outbound.getLogAttributes(input, next) : next(input)),
      },
    ],
    internals: [{ dispose: (input, next) => (otel ? otel.internals.dispose(input, next) : next(input)) }],
  };
};
