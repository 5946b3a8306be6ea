using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DevSidecar.Resources.Redis;

/// <summary>
/// Opens StackExchange.Redis connections for a redis component (redisHost, redisUsername, redisPassword, redisDB).
/// Redis down at start-up fails the component's init (<see cref="PingAsync"/>), as in contrib; an outage after that is
/// not fatal: the multiplexer keeps reconnecting with back-off, outages and recoveries are logged once each, and
/// commands fail fast meanwhile (so publish and state calls report the outage instead of hanging).
/// </summary>
public sealed class RedisConnector
{
    private readonly ComponentSpec _spec;
    private readonly ILogger _logger;
    private readonly ConfigurationOptions _options;

    public string Host { get; }
    public int Database { get; }

    /// <summary>The keys every redis component has (components-contrib v1.17.6 common/component/redis/settings.go, and the
    /// azuread authentication profile of its metadata.yaml).</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "redisHost", "redisPort", "redisPassword", "redisUsername", "sentinelPassword", "sentinelUsername", "redisDB",
        "redisType", "redisMaxRetries", "redisMinRetryInterval", "redisMaxRetryInterval", "dialTimeout", "readTimeout",
        "writeTimeout", "poolSize", "minIdleConns", "maxConnAge", "poolTimeout", "idleTimeout", "idleCheckFrequency",
        "sentinelMasterName", "failover", "enableTLS", "clientCert", "clientKey", "useEntraID", "useAzureAD",
        "azureTenantId", "azureClientId", "azureClientSecret", "azureCertificate", "azureCertificateFile",
        "azureCertificatePassword", "azureEnvironment",
    ];

    public RedisConnector(ComponentSpec spec, ILogger logger)
    {
        _spec = spec;
        _logger = logger;
        Host = spec.Required("redisHost");
        Database = spec.GetInt("redisDB", 0);
        _options = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = 2000,
            // Commands fail at once while disconnected rather than queueing until a timeout.
            BacklogPolicy = BacklogPolicy.FailFast,
            ReconnectRetryPolicy = new ExponentialRetry(250, 5000),
            DefaultDatabase = Database,
            User = spec.Get("redisUsername") is { Length: > 0 } user ? user : null,
            Password = spec.Get("redisPassword") is { Length: > 0 } password ? password : null,
            ClientName = $"devsidecar-{spec.Name}",
        };
        _options.EndPoints.Add(Host);
    }

    /// <summary>Connects (or starts trying to: the result is usable before redis answers, and reconnects by itself).
    /// <paramref name="reportUnreachable"/> false leaves reporting a redis that is down at once to the caller.</summary>
    public async Task<ConnectionMultiplexer> ConnectAsync(string purpose, bool reportUnreachable = true)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(_options.Clone());
        var what = $"{_spec.Name} ({_spec.Type}, {purpose})";
        if (!connection.IsConnected && reportUnreachable)
            _logger.LogError("{What}: cannot reach redis at {Host}; retrying in the background", what, Host);
        connection.ConnectionFailed += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Interactive)
                _logger.LogError("{What}: lost redis at {Host} ({Failure}); reconnecting", what, Host, e.FailureType);
        };
        connection.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Interactive)
                _logger.LogInformation("{What}: connected to redis at {Host}", what, Host);
        };
        return connection;
    }

    public string StartCommand => $"redis-server --port {(Host.LastIndexOf(':') is var colon and > 0 ? Host[(colon + 1)..] : "6379")}";

    /// <summary>
    /// contrib's Init check (pubsub/redis and state/redis redis.go): a PING, which fails at once when nothing answers;
    /// its error is contrib's "{<paramref name="component"/>}: error connecting to redis at {host}: …".
    /// </summary>
    public async Task PingAsync(Task<ConnectionMultiplexer> connecting, string component, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await connecting.WaitAsync(cancellationToken);
            await connection.GetDatabase(Database).PingAsync().WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new RedisUnavailableException($"{component}: error connecting to redis at {Host}: {ComponentInitException.DialError(Host, e)}", e);
        }
    }

    /// <summary>An error that names the component and the broker, for the API to pass on.</summary>
    public Exception Unreachable(Exception e) =>
        new RedisUnavailableException($"redis at {Host} is unavailable for component '{_spec.Name}': {e.Message}", e);

    public static bool IsConnectionProblem(Exception e) =>
        e is RedisConnectionException or RedisTimeoutException or ObjectDisposedException
        || (e is RedisServerException s && s.Message.StartsWith("LOADING", StringComparison.Ordinal));
}

public sealed class RedisUnavailableException(string message, Exception inner) : Exception(message, inner);
