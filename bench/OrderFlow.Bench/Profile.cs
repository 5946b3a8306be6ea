using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace OrderFlow.Bench;

public sealed record RouteCost(string Route, long Requests, double PerUnit, double MeanMs, double TotalMs);

public sealed record ProfileResult(double CpuMsPerUnit, double AllocatedKbPerUnit, int Gen0, int Gen1, int Gen2, List<RouteCost> Routes);

/// <summary>
/// A profile of the bench process over one phase: CPU time and allocations per unit of work, and every HTTP/gRPC
/// request any in-process server (apps and sidecars) handled, by route, from ASP.NET Core's request-duration metric.
/// </summary>
public sealed class Profile : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, (long Count, double TotalMs)> _routes = new();
    private readonly TimeSpan _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly long _alloc0 = GC.GetTotalAllocatedBytes();
    private readonly int[] _gc0 = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];

    public Profile()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Microsoft.AspNetCore.Hosting" && instrument.Name == "http.server.request.duration")
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            string route = "?", method = "";
            foreach (var tag in tags)
            {
                if (tag.Key == "http.route") route = tag.Value as string ?? "?";
                else if (tag.Key == "http.request.method") method = tag.Value as string ?? "";
            }
            _routes.AddOrUpdate($"{method} {route}", (1, seconds * 1000), (_, v) => (v.Count + 1, v.TotalMs + seconds * 1000));
        });
        _listener.Start();
    }

    public ProfileResult Stop(int units)
    {
        _listener.Dispose();
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - _cpu0).TotalMilliseconds;
        var routes = _routes.Select(kv => new RouteCost(kv.Key, kv.Value.Count, Math.Round(kv.Value.Count / (double)units, 2),
                Math.Round(kv.Value.TotalMs / kv.Value.Count, 3), Math.Round(kv.Value.TotalMs, 1)))
            .OrderByDescending(r => r.Requests).ToList();
        return new ProfileResult(Math.Round(cpu / units, 3), Math.Round((GC.GetTotalAllocatedBytes() - _alloc0) / 1024.0 / units, 1),
            GC.CollectionCount(0) - _gc0[0], GC.CollectionCount(1) - _gc0[1], GC.CollectionCount(2) - _gc0[2], routes);
    }

    public void Dispose()
    {
        _listener.Dispose();
    }
}
