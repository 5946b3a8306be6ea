namespace DevCli;

/// <summary>The variables the Dapr CLI adds to an app's inherited environment (RunConfig.getEnv).</summary>
public static class AppEnvironment
{
    public static IReadOnlyDictionary<string, string> For(AppSpec app, int? appPort, int daprHttpPort, int daprGrpcPort, int metricsPort)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["APP_ID"] = app.AppId,
            ["APP_CHANNEL_ADDRESS"] = app.AppChannelAddress ?? "",
            ["DAPR_HTTP_PORT"] = daprHttpPort.ToString(),
            ["DAPR_GRPC_PORT"] = daprGrpcPort.ToString(),
            ["DAPR_METRICS_PORT"] = metricsPort.ToString(),
            ["APP_PROTOCOL"] = app.AppProtocol,
        };
        if (appPort is { } port)
            env["APP_PORT"] = port.ToString();
        // The run file's env comes last so it can override anything, as in the CLI.
        foreach (var (key, value) in app.Env)
            env[key] = value;
        return env;
    }
}
