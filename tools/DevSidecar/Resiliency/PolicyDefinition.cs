using Microsoft.Extensions.Logging;

namespace DevSidecar.Resiliency;

/// <summary>A failure that carries a status code (daprd's resiliency.CodeError): a retry policy's <c>matching</c> decides on it.</summary>
public class StatusCodeException(int statusCode, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
}

/// <summary>A failure no retry can help (daprd's backoff.Permanent): the runner gives up at once and throws <see cref="Exception.InnerException"/>.</summary>
public sealed class PermanentFailureException(Exception inner) : Exception(inner.Message, inner);

/// <summary>The policy's timeout passed first; daprd reports it as Go's context error.</summary>
public sealed class DeadlineExceededException() : Exception("context deadline exceeded");

/// <summary>
/// The policies that apply to one call (pkg/resiliency/policy.go NewRunnerWithOptions): the timeout bounds each attempt,
/// the circuit breaker sees each attempt (a timed-out one is a failure), and the retry repeats the whole while the
/// failure is retriable — not when it is permanent, not when the breaker refuses, not when <c>matching</c> excludes
/// its status code. No policy: the operation runs once.
/// </summary>
public sealed class PolicyDefinition(string name, TimeSpan timeout, RetryPolicy? retry, CircuitBreaker? breaker, ILogger logger)
{
    public static PolicyDefinition None(ILogger logger) => new("none", TimeSpan.Zero, null, null, logger);

    public string Name => name;
    public TimeSpan Timeout => timeout;
    public RetryPolicy? Retry => retry;
    public CircuitBreaker? Breaker => breaker;

    /// <summary>Whether a failed attempt may be repeated (so a request body must be kept to send again).</summary>
    public bool HasRetries => retry is { MaxRetries: not 0 };

    /// <summary>Runs the operation under the policies; the exception of the last attempt escapes (a permanent one unwrapped).</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        Func<CancellationToken, Task<T>> attempt = operation;
        if (timeout > TimeSpan.Zero)
        {
            var inner = attempt;
            attempt = ct => WithTimeoutAsync(inner, ct);
        }
        if (breaker is not null)
        {
            var inner = attempt;
            attempt = async ct =>
            {
                try
                {
                    return await breaker.ExecuteAsync(() => inner(ct));
                }
                catch (CircuitBreakerOpenException e) when (retry is not null)
                {
                    throw new PermanentFailureException(e);
                }
            };
        }

        var backOff = retry?.Start();
        var notified = false;
        for (var attempts = 1; ; attempts++)
        {
            try
            {
                var result = await attempt(cancellationToken);
                if (notified) logger.LogInformation("Recovered processing operation {Name} after {Attempts} attempts", name, attempts);
                return result;
            }
            catch (PermanentFailureException e)
            {
                throw e.InnerException!;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (backOff is not null && (e is not StatusCodeException coded || retry!.Retries(coded.StatusCode)))
            {
                if (backOff.Next() is not { } wait) throw;
                if (!notified) logger.LogWarning("Error processing operation {Name}. Retrying in {Wait}…", name, Go(wait));
                notified = true;
                logger.LogDebug("Error for operation {Name} was: {Error}", name, e.Message);
                await Task.Delay(wait, cancellationToken);
            }
        }
    }

    private async Task<T> WithTimeoutAsync<T>(Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var running = operation(deadline.Token);
        try
        {
            return await running.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Like daprd, the attempt is abandoned, not awaited; its outcome is observed so it cannot go unnoticed.
            _ = running.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            throw new DeadlineExceededException();
        }
    }

    private static string Go(TimeSpan wait) => wait.TotalSeconds >= 1 ? $"{wait.TotalSeconds:0.###}s" : $"{wait.TotalMilliseconds:0.###}ms";
}
