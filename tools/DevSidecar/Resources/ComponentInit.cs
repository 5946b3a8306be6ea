using System.Net.Sockets;

namespace DevSidecar.Resources;

/// <summary>
/// A component whose Init connects to its server, as contrib's broker components do (components-contrib v1.17.6:
/// pubsub/redis and state/redis ping, pubsub/jetstream nats.Connect, pubsub/rabbitmq dials; none retries). The
/// sidecar inits its components before it serves anything; see <see cref="ComponentInitException"/>.
/// </summary>
public interface IConnectingComponent
{
    /// <summary>What Init connects to: "NATS", "Redis", "RabbitMQ" (for the start-up error).</summary>
    string Server { get; }

    /// <summary>Where Init connects, as the metadata names it (for the start-up error).</summary>
    string Address { get; }

    /// <summary>The command that starts <see cref="Server"/> at <see cref="Address"/> (for the start-up error).</summary>
    string StartCommand { get; }

    /// <summary>contrib's Init: connect, and throw contrib's error when that fails.</summary>
    Task InitAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A component whose init failed, which stops the sidecar as it stops daprd (dapr v1.17.9
/// pkg/runtime/processor/components.go: unless spec.ignoreErrors, "process component X error" ends the runtime).
/// The message is daprd's error text, on one line, followed by the address tried and the command that starts its server.
/// </summary>
public sealed class ComponentInitException(ComponentSpec spec, string daprdError, string advice, Exception? cause)
    : Exception($"{daprdError} — {advice}", cause)
{
    public ComponentSpec Spec { get; } = spec;

    /// <summary>What daprd says: "process component pubsub error: [INIT_COMPONENT_FAILURE]: initialization error occurred
    /// for pubsub (pubsub.jetstream/v1): nats: no servers available for connection" (pkg/runtime/errors/init.go).</summary>
    public string DaprdError { get; } = daprdError;

    public static ComponentInitException For(ComponentSpec spec, IConnectingComponent component, string contribError, bool timedOut, Exception? cause = null)
    {
        // daprd joins the init timeout to the component's error (processor/components.go Init: errors.Join).
        var error = timedOut ? $"{contribError}; init timeout for component {spec.LogName}" : contribError;
        return new(spec, $"process component {spec.Name} error: [INIT_COMPONENT_FAILURE]: initialization error occurred for {spec.LogName}: {error}",
            $"is {component.Server} running at {component.Address}? Start it with `{component.StartCommand}`", cause);
    }

    /// <summary>
    /// The cause as Go's net package words a refused connection ("dial tcp 127.0.0.1:6379: connect: connection refused"),
    /// which is what contrib's clients pass on; otherwise the innermost message of the .NET client's exception.
    /// </summary>
    public static string DialError(string hostAndPort, Exception e) =>
        IsRefused(e) ? $"dial tcp {hostAndPort}: connect: connection refused" : e.GetBaseException().Message;

    /// <summary>Whether nothing listened at the address (the connection was refused).</summary>
    public static bool IsRefused(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused }) return true;
            if (inner is AggregateException aggregate && aggregate.InnerExceptions.Any(IsRefused)) return true;
        }
        return false;
    }
}
