using Microsoft.Extensions.Logging;

namespace DevSidecar.PubSub;

/// <summary>
/// How long subscribing waits for a broker subscription to really consume. contrib's Subscribe returns only once
/// its consumer runs (RabbitMQ waits up to a minute, JetStream fails at once), so an app is not reported ready
/// before events published to it are kept. The dev sidecar waits a few seconds, then lets start-up go on while the
/// subscription keeps retrying in the background, so a broker that went down after the components' init does not stop
/// the sidecar (one that is down at start-up stops it in init, as it stops daprd: ComponentRegistry.InitAsync).
/// </summary>
public static class SubscriptionStartup
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    public static async Task WaitAsync(Task consuming, string component, string topic, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await consuming.WaitAsync(Patience, cancellationToken);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("{Component}: the subscription to {Topic} is not consuming after {Seconds} s (is the broker up?); it keeps retrying in the background",
                component, topic, Patience.TotalSeconds);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The sidecar is stopping; the caller still gets the subscription, and disposes it with the others.
        }
    }
}
