using System.Diagnostics;

namespace DevSidecar.Tests.Conformance.Harness;

/// <summary>Deadline-bounded polling. Tests synchronise on observable conditions, never on sleeps.</summary>
public static class Wait
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    public static async Task<T> ForAsync<T>(Func<T?> probe, string what, TimeSpan? timeout = null) where T : class
    {
        var sw = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        while (true)
        {
            if (probe() is { } value) return value;
            if (sw.Elapsed > limit) throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#}s waiting for: {what}");
            await Task.Delay(Interval);
        }
    }

    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        await ForAsync(() => condition() ? "ok" : null, what, timeout);
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        while (true)
        {
            if (await condition()) return;
            if (sw.Elapsed > limit) throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#}s waiting for: {what}");
            await Task.Delay(Interval);
        }
    }

    /// <summary>Asserts that a condition holds for the whole of a short observation window (absence checks:
    /// "not redelivered", "never delivered"). Not used to synchronise.</summary>
    public static async Task StaysAsync(Func<bool> condition, string what, TimeSpan? window = null)
    {
        var sw = Stopwatch.StartNew();
        var limit = window ?? TimeSpan.FromMilliseconds(750);
        while (sw.Elapsed < limit)
        {
            if (!condition()) throw new Xunit.Sdk.XunitException($"Condition stopped holding after {sw.ElapsedMilliseconds} ms: {what}");
            await Task.Delay(Interval);
        }
        if (!condition()) throw new Xunit.Sdk.XunitException($"Condition stopped holding: {what}");
    }

    public static async Task<T> WithDeadline<T>(Task<T> task, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var done = await Task.WhenAny(task, Task.Delay(limit));
        if (done != task) throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#}s: {what}");
        return await task;
    }

    public static async Task WithDeadline(Task task, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var done = await Task.WhenAny(task, Task.Delay(limit));
        if (done != task) throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#}s: {what}");
        await task;
    }
}
