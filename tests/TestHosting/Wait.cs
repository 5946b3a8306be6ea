using System.Diagnostics;

namespace TestHosting;

/// <summary>
/// Waits on an observable condition with a deadline, polling; tests never synchronise on sleeps. Every wait ends in a
/// <see cref="TimeoutException"/> that names what was awaited (and what was last seen), never in a hang.
/// </summary>
public static class Wait
{
    /// <summary>One app and its sidecar.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    /// <summary>A whole flow: several apps and their sidecars working through it, on a busy two-core machine.</summary>
    public static readonly TimeSpan EndToEndTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How often a condition is polled unless a wait says otherwise.</summary>
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Polls <paramref name="probe"/> until <paramref name="done"/> holds for what it returns; returns that.</summary>
    public static Task<T> ForAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null,
        Func<T, string>? describe = null) =>
        PollAsync(probe, done, what, timeout, last => describe is null ? last?.ToString() : describe(last));

    /// <summary>Polls until <paramref name="probe"/> returns something; returns that.</summary>
    public static async Task<T> ForAsync<T>(Func<T?> probe, string what, TimeSpan? timeout = null) where T : class =>
        (await PollAsync(() => Task.FromResult(probe()), value => value is not null, what, timeout, _ => null))!;

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        PollAsync(() => Task.FromResult(condition()), done => done, what, timeout, _ => null);

    /// <param name="interval">For a probe that costs the system under test something (the bench's order list): how often.</param>
    public static Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null) =>
        PollAsync(condition, done => done, what, timeout, _ => null, interval);

    /// <summary>Asserts that a condition holds for the whole of a short observation window (absence checks:
    /// "not redelivered", "never delivered"). Not used to synchronise.</summary>
    public static async Task StaysAsync(Func<bool> condition, string what, TimeSpan? window = null)
    {
        var clock = Stopwatch.StartNew();
        var limit = window ?? TimeSpan.FromMilliseconds(750);
        while (clock.Elapsed < limit)
        {
            if (!condition()) throw new Xunit.Sdk.XunitException($"Condition stopped holding after {clock.ElapsedMilliseconds} ms: {what}");
            await Task.Delay(Interval);
        }
        if (!condition()) throw new Xunit.Sdk.XunitException($"Condition stopped holding: {what}");
    }

    /// <summary>A task awaited with a deadline; the timeout names what was awaited.</summary>
    public static async Task<T> WithDeadline<T>(Task<T> task, string what, TimeSpan? timeout = null)
    {
        await WithDeadline((Task)task, what, timeout);
        return await task;
    }

    public static async Task WithDeadline(Task task, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var done = await Task.WhenAny(task, Task.Delay(limit));
        if (done != task) throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#}s: {what}");
        await task;
    }

    private static async Task<T> PollAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout, Func<T, string?> lastSeen,
        TimeSpan? interval = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var last = await probe();
            if (done(last)) return last;
            if (clock.Elapsed > limit)
                throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#}s waiting for: {what}"
                    + (lastSeen(last) is { } seen ? $"; last seen: {seen}" : ""));
            await Task.Delay(interval ?? Interval);
        }
    }
}
