using System.Diagnostics;
using DevSidecar.Invocation;
using OpenTelemetry;
using OpenTelemetry.Trace;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The spans of every app and sidecar hosted in this test process, for one test: ActivitySources are process-wide, so
/// one tracer provider with the apps' instrumentation and an in-memory exporter sees them all. Spans of other tests
/// running meanwhile are collected too; <see cref="Of"/> keeps one trace.
/// </summary>
public sealed class TraceCollector : IDisposable
{
    private static readonly ActivitySource Test = new("OrderFlow.Tests");
    private readonly LockedList _exported = new();
    private readonly TracerProvider _provider;

    public TraceCollector()
    {
        _provider = Sdk.CreateTracerProviderBuilder()
            .AddSource(Test.Name, Tracing.SourceName, Tracing.GrpcClientSourceName, Tracing.WorkflowSourceName,
                TraceContext.SourceName + ".*")
            .AddAspNetCoreInstrumentation()
            .AddHttpClientInstrumentation()
            .AddInMemoryExporter(_exported)
            .Build()!;
    }

    /// <summary>The test's own span, the root of what it does inside it.</summary>
    public Activity StartRoot(string name) =>
        Test.StartActivity(name, ActivityKind.Internal, parentContext: default) ?? throw new InvalidOperationException("the test's span was not sampled");

    /// <summary>The ended spans of one trace, so far.</summary>
    public IReadOnlyList<Activity> Of(ActivityTraceId traceId)
    {
        return _exported.Snapshot().Where(a => a.TraceId == traceId).ToList();
    }

    /// <summary>Whether a span is one of a dev sidecar's (each records through its own DevSidecar.{appId}.{n} source).</summary>
    public static bool IsSidecar(Activity span) => span.Source.Name.StartsWith(TraceContext.SourceName + ".", StringComparison.Ordinal);

    /// <summary>A trace as an indented tree, for failure messages.</summary>
    public static string Tree(IReadOnlyList<Activity> trace)
    {
        var children = trace.ToLookup(s => s.ParentSpanId);
        var ids = trace.Select(s => s.SpanId).ToHashSet();
        var text = new System.Text.StringBuilder();
        void Write(Activity span, int depth)
        {
            text.Append(' ', depth * 2).Append($"{span.Kind} {span.DisplayName} [{span.Source.Name}]")
                .Append(span.GetTagItem("server.port") is { } port ? $" port={port}" : "").AppendLine();
            foreach (var child in children[span.SpanId].OrderBy(c => c.StartTimeUtc)) Write(child, depth + 1);
        }
        foreach (var root in trace.Where(s => !ids.Contains(s.ParentSpanId)).OrderBy(s => s.StartTimeUtc)) Write(root, 0);
        return text.ToString();
    }

    public void Dispose() => _provider.Dispose();

    /// <summary>The exporter adds from the threads that end spans while the test reads.</summary>
    private sealed class LockedList : System.Collections.ObjectModel.Collection<Activity>
    {
        private readonly Lock _gate = new();

        protected override void InsertItem(int index, Activity item)
        {
            lock (_gate) base.InsertItem(index, item);
        }

        public List<Activity> Snapshot()
        {
            lock (_gate) return [.. Items];
        }
    }
}
