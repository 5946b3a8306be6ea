using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OrderFlow.Bench;

/// <summary>Latency percentiles in milliseconds (nearest rank).</summary>
public sealed record LatencyStats(int Count, int Errors, double Mean, double P50, double P90, double P99, double P999, double Max)
{
    public static LatencyStats Of(IEnumerable<double> samples, int errors = 0)
    {
        var sorted = samples.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length == 0) return new(0, errors, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        double P(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new(sorted.Length, errors, Math.Round(sorted.Average(), 3), R(P(0.50)), R(P(0.90)), R(P(0.99)), R(P(0.999)), R(sorted[^1]));
    }

    private static double R(double v) => Math.Round(v, 3);
}

/// <summary>The samples of one run: latency from the scheduled send time, and how late the pacer actually sent.</summary>
public sealed class Samples(int capacity)
{
    public readonly double[] Latency = Fill(capacity);
    public readonly double[] Extra = Fill(capacity);
    public readonly double[] SendLag = Fill(capacity);
    public int Errors;
    public string? FirstError;

    private static double[] Fill(int n)
    {
        var a = new double[n];
        Array.Fill(a, double.NaN);
        return a;
    }
}

public static class Load
{
    public static double Ms(long fromTimestamp, long toTimestamp) => (toTimestamp - fromTimestamp) * 1000.0 / Stopwatch.Frequency;

    /// <summary>
    /// Open loop at a fixed rate: request i is due at start + i/rate and is sent then whether or not earlier ones have
    /// answered (on a dedicated pacing thread, handed to the thread pool). Latency is measured from the due time, so a
    /// stalled server is charged for the requests queued behind it (no coordinated omission).
    /// <paramref name="call"/> returns an optional second figure in ms (e.g. time to first chunk) measured from the due time.
    /// </summary>
    public static async Task<Samples> FixedRateAsync(Func<long, Task<double>> call, int ratePerSecond, TimeSpan duration)
    {
        var n = (int)(ratePerSecond * duration.TotalSeconds);
        var samples = new Samples(n);
        var tasks = new Task[n];
        var period = (double)Stopwatch.Frequency / ratePerSecond;
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 50;
        var pacer = new Thread(() =>
        {
            for (var i = 0; i < n; i++)
            {
                var due = start + (long)(i * period);
                WaitUntil(due);
                var index = i;
                tasks[index] = Task.Run(() => One(index, due));
            }
        })
        { IsBackground = true, Name = "bench-pacer", Priority = ThreadPriority.AboveNormal };
        pacer.Start();
        await Task.Run(pacer.Join);
        await Task.WhenAll(tasks);
        return samples;

        async Task One(int i, long due)
        {
            samples.SendLag[i] = Ms(due, Stopwatch.GetTimestamp());
            try
            {
                samples.Extra[i] = await call(due);
                samples.Latency[i] = Ms(due, Stopwatch.GetTimestamp());
            }
            catch (Exception e)
            {
                if (Interlocked.Increment(ref samples.Errors) == 1) samples.FirstError = e.GetType().Name + ": " + e.Message;
            }
        }
    }

    /// <summary>Closed loop: <paramref name="workers"/> callers back to back for <paramref name="duration"/>; completed calls per second.</summary>
    public static async Task<(double PerSecond, int Errors)> SaturateAsync(Func<Task> call, int workers, TimeSpan duration)
    {
        var done = 0;
        var errors = 0;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (sw.Elapsed < duration)
            {
                try
                {
                    await call();
                    Interlocked.Increment(ref done);
                }
                catch
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        return (Math.Round(done / sw.Elapsed.TotalSeconds, 1), errors);
    }

    /// <summary>Sleeps until the timestamp with microsecond resolution (Linux nanosleep), then spins the last few microseconds.</summary>
    public static void WaitUntil(long due)
    {
        while (true)
        {
            var remaining = due - Stopwatch.GetTimestamp();
            if (remaining <= 0) return;
            var us = remaining * 1_000_000 / Stopwatch.Frequency;
            if (us > 80 && OperatingSystem.IsLinux()) usleep((uint)(us - 60));
            else if (us > 2000) Thread.Sleep(1);
            else Thread.SpinWait(20);
        }
    }

    [DllImport("libc", SetLastError = false)]
    private static extern int usleep(uint microseconds);

    public static double[] Concat(IEnumerable<double[]> parts) => parts.SelectMany(p => p).ToArray();
}
