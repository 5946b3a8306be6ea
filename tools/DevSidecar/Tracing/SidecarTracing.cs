using System.Buffers.Binary;
using System.Diagnostics;
using DevSidecar.Invocation;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tracing;

/// <summary>
/// One sidecar's tracing, as daprd's tracer provider (dapr v1.17.9 pkg/runtime/runtime.go setupTracing): its own
/// sampler and exporters. Several sidecars share a process (the runner, tests), and ActivityListeners are process-wide,
/// so each sidecar has its own ActivitySource (named <c>DevSidecar.{appId}.{n}</c>) and its exporters listen to that
/// source only. The sampling decision is the sidecar's own, made before any Activity exists: an unsampled span is
/// only a new span id to propagate, and with no listener at all a sampled one is too, so tracing costs next to nothing
/// until an exporter (or a test's collector) listens.
/// </summary>
public sealed class SidecarTracing : IDisposable
{
    private static int _instances;
    private readonly IDisposable? _export;

    public SidecarTracing(string appId, TracingSpec spec, ILogger logger)
    {
        AppId = appId;
        Spec = spec;
        Validate(spec);
        Source = new ActivitySource($"{TraceContext.SourceName}.{appId}.{Interlocked.Increment(ref _instances)}");
        try
        {
            if (spec.Enabled && spec.HasExporter) _export = TraceExport.Start(this, logger);
        }
        catch
        {
            Source.Dispose();
            throw;
        }
        logger.LogInformation("Dapr trace sampler initialized: ParentBased{{root:TraceIDRatioBased{{{Rate}}}}}", spec.Rate);
    }

    /// <summary>The exporter settings daprd's setupTracing refuses, whatever the sampling rate.</summary>
    private static void Validate(TracingSpec spec)
    {
        // OpenTelemetry Go's zipkin.New: the URL needs a scheme and a host.
        if (!string.IsNullOrEmpty(spec.ZipkinEndpoint)
            && !(Uri.TryCreate(spec.ZipkinEndpoint, UriKind.Absolute, out var zipkin) && zipkin.Host.Length > 0))
            throw new ConfigurationLoadException($"invalid collector URL \"{spec.ZipkinEndpoint}\": no scheme or host");
        if (spec.HasOtlpExporter && spec.OtelProtocol is not ("http" or "grpc"))
            throw new ConfigurationLoadException($"invalid protocol {spec.OtelProtocol} provided for Otel endpoint");
    }

    public string AppId { get; }
    public TracingSpec Spec { get; }
    public ActivitySource Source { get; }

    /// <summary>False for a sampling rate of 0: daprd then installs no tracing middleware and starts no spans.</summary>
    public bool Enabled => Spec.Enabled;

    /// <summary>
    /// Starts a span that is the child of <paramref name="traceParent"/> when it is a valid W3C traceparent, else a new
    /// root; null when tracing is off. Sampled as daprd's ParentBased(TraceIDRatioBased(rate)) sampler decides
    /// (pkg/diagnostics/tracing_sampler.go): a parent's sampled flag wins, a root is sampled by its trace id.
    /// </summary>
    public SidecarSpan? Start(string name, ActivityKind kind, string? traceParent, string? traceState) =>
        Enabled ? StartSpan(name, kind, traceParent, traceState, detached: false) : null;

    /// <summary>
    /// Whether daprd sets the global tracer provider that durabletask-go's workflow engine traces through: only with an
    /// exporter, or a samplingRate written (then with a null exporter), whatever the rate (dapr v1.17.9
    /// pkg/runtime/runtime.go setupTracing, trace.go RegisterTracerProvider). Without it the engine's spans are no-ops.
    /// </summary>
    public bool HasProvider => Spec.HasExporter || Spec.SamplingRate.Length > 0;

    /// <summary>
    /// A span of the workflow engine (durabletask-go's tracer on daprd's provider, so a rate of 0 still honours a
    /// sampled parent): detached, it never becomes Activity.Current, since it outlives the call that starts it.
    /// </summary>
    public SidecarSpan StartDetached(string name, ActivityKind kind, string? traceParent, string? traceState, DateTime? startedAt = null)
    {
        var current = Activity.Current;
        var span = StartSpan(name, kind, traceParent, traceState, detached: true);
        Activity.Current = current;
        if (startedAt is { } at) span.SetStartTime(at);
        return span;
    }

    private SidecarSpan StartSpan(string name, ActivityKind kind, string? traceParent, string? traceState, bool detached)
    {
        ActivityContext parent = default;
        var hasParent = traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out parent);
        var traceId = hasParent ? parent.TraceId : ActivityTraceId.CreateRandom();
        var sampled = hasParent ? (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0 : RatioSampled(traceId, Spec.Rate);
        if (!sampled || !Source.HasListeners())
            return new SidecarSpan(null, traceId, ActivitySpanId.CreateRandom(), sampled, hasParent ? parent.TraceState : null);

        var previous = Activity.Current;
        // A root gets the trace id the sampler judged through a parent context with no span id (exported as no parent);
        // with an activity current (the host's request), .NET would take that one's span id as the parent's.
        Activity.Current = null;
        var activity = Source.StartActivity(name, kind, hasParent ? parent : new ActivityContext(traceId, default, ActivityTraceFlags.Recorded));
        if (activity is null)
        {
            Activity.Current = previous;
            return new SidecarSpan(null, traceId, ActivitySpanId.CreateRandom(), sampled, hasParent ? parent.TraceState : null);
        }
        activity.ActivityTraceFlags |= ActivityTraceFlags.Recorded;
        return new SidecarSpan(activity, activity.TraceId, activity.SpanId, true, activity.TraceStateString, previous, detached);
    }

    /// <summary>OpenTelemetry Go's TraceIDRatioBased: the trace id's low 8 bytes, shifted right by one, below rate·2⁶³.</summary>
    private static bool RatioSampled(ActivityTraceId traceId, double rate)
    {
        if (rate >= 1) return true;
        if (rate <= 0) return false;
        Span<byte> bytes = stackalloc byte[16];
        traceId.CopyTo(bytes);
        var x = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]) >> 1;
        return x < (ulong)(rate * (1UL << 63));
    }

    public void Dispose()
    {
        _export?.Dispose(); // flushes what is batched
        Source.Dispose();
    }
}

/// <summary>
/// A span of the sidecar's: its W3C context to propagate, and the Activity behind it when it is sampled and someone
/// listens. Attributes are set only on a sampled span, as daprd adds them ("only if it is sampled").
/// </summary>
public sealed class SidecarSpan : IDisposable
{
    private readonly Activity? _activity;
    private readonly Activity? _previous;
    private readonly bool _detached;
    private int _ended;

    internal SidecarSpan(Activity? activity, ActivityTraceId traceId, ActivitySpanId spanId, bool sampled, string? traceState, Activity? previous = null, bool detached = false)
    {
        _activity = activity;
        _previous = previous;
        _detached = detached;
        Sampled = sampled;
        TraceParent = $"00-{traceId.ToHexString()}-{spanId.ToHexString()}-{(sampled ? "01" : "00")}";
        TraceState = string.IsNullOrEmpty(traceState) ? null : traceState;
        TraceId = traceId;
        SpanId = spanId;
    }

    public bool Sampled { get; }
    public string TraceParent { get; }
    public string? TraceState { get; }
    public ActivityTraceId TraceId { get; }
    public ActivitySpanId SpanId { get; }

    /// <summary>Whether attributes are worth computing: the span is sampled and recorded by a listener.</summary>
    public bool Recording => _activity is not null;

    public SidecarSpan SetTag(string key, long value)
    {
        _activity?.SetTag(key, value);
        return this;
    }

    public void SetStartTime(DateTime utc) => _activity?.SetStartTime(utc);

    public void SetName(string name)
    {
        if (_activity is not null) _activity.DisplayName = name;
    }

    public SidecarSpan SetTag(string key, string? value)
    {
        _activity?.SetTag(key, value);
        return this;
    }

    /// <summary>daprd's UpdateSpanStatusFromHTTPStatus: an error from 400 on, "Code(404): Not Found".</summary>
    public void SetHttpStatus(int status)
    {
        if (_activity is not null && status >= 400)
            _activity.SetStatus(ActivityStatusCode.Error, $"Code({status}): {(Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } text ? text : "Unknown")}");
    }

    /// <summary>daprd's UpdateSpanStatusFromGRPCError: an error with the status's message.</summary>
    public void SetError(string message) => _activity?.SetStatus(ActivityStatusCode.Error, message);

    /// <summary>grpc-trace-bin (OpenCensus binary format): version 0, trace id, span id, options.</summary>
    public byte[] Binary()
    {
        var bytes = new byte[29];
        bytes[1] = 0;
        TraceId.CopyTo(bytes.AsSpan(2, 16));
        bytes[18] = 1;
        SpanId.CopyTo(bytes.AsSpan(19, 8));
        bytes[27] = 2;
        bytes[28] = (byte)(Sampled ? 1 : 0);
        return bytes;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1 || _activity is null) return;
        if (_detached)
        {
            // Stopping sets Activity.Current to the span's parent: the caller's current span stays current.
            var current = Activity.Current;
            _activity.Stop();
            Activity.Current = current;
            return;
        }
        _activity.Stop();
        if (Activity.Current is null || Activity.Current == _activity) Activity.Current = _previous;
    }
}
