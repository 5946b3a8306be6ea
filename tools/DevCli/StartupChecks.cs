using DevSidecar.Resources;

namespace DevCli;

/// <summary>
/// What the runner checks before any app starts, one line per problem: run-file keys with no effect and resources
/// paths that give nothing (warnings: the run goes on, as with the Dapr CLI), resources a sidecar would refuse and
/// ports another process holds (errors: nothing starts, exit 1).
/// </summary>
internal static class StartupChecks
{
    /// <returns>False when the run must not start.</returns>
    public static bool Pass(IReadOnlyList<AppSpec> apps, RunFile? template, TextWriter error)
    {
        foreach (var warning in template?.Warnings ?? [])
            error.WriteLine($"warning: {template!.TemplatePath}: {warning}");
        foreach (var warning in EmptyResourcesPaths(apps))
            error.WriteLine($"warning: {warning}");

        var loaded = new List<ResourceSet>();
        var refused = new List<(string AppId, string Problem)>();
        foreach (var app in apps.DistinctBy(app => (app.AppId, string.Join('\n', app.ResourcesPaths))))
        {
            // The CLI runs daprd's component loader on each app's resources paths before starting it (cli v1.17.1
            // pkg/standalone/run.go validateResourcesPaths): a duplicate component name stops the run there.
            try
            {
                loaded.Add(ResourceLoader.Load(app.ResourcesPaths, app.AppId, ComponentRegistry.KnownTypes));
            }
            catch (ResourceLoadException e)
            {
                refused.Add((app.AppId, $"{e.File}: {e.Problem}"));
            }
        }
        // A bad file in a common path fails every app alike: one line for all of them.
        var problems = refused.GroupBy(r => r.Problem)
            .Select(g => $"{Apps(g.Select(r => r.AppId).Distinct().ToList())}: cannot load resources: {g.Key}").ToList();
        if (problems.Count == 0 && NoSubscriptionAnywhere(apps, loaded) is { } noSubscription)
            error.WriteLine($"warning: {noSubscription}");

        problems.AddRange(apps.SelectMany(HeldPorts));
        foreach (var problem in problems)
            error.WriteLine(problem);
        return problems.Count == 0;
    }

    private static string Apps(IReadOnlyList<string> ids) =>
        ids.Count == 1 ? $"app '{ids[0]}'" : $"apps {string.Join(", ", ids.Select(id => $"'{id}'"))}";

    /// <summary>
    /// daprd reads the *.yaml / *.yml files directly in each resources path and no sub-folder (dapr v1.17.9
    /// pkg/internal/loader/disk/manifest.go loadManifestsFromDirectory), so a path naming the parent of the style
    /// folders (`./components`) silently gives nothing.
    /// </summary>
    private static IEnumerable<string> EmptyResourcesPaths(IReadOnlyList<AppSpec> apps)
    {
        foreach (var path in apps.SelectMany(app => app.ResourcesPaths).Distinct(StringComparer.Ordinal))
        {
            if (YamlFiles(path).Any()) continue;
            var withYaml = Directory.EnumerateDirectories(path).Where(sub => YamlFiles(sub).Any())
                .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            yield return $"resources path {path} holds no YAML file, so no resource comes from it"
                + (withYaml.Count > 0 ? $"; daprd does not read sub-folders ({string.Join(", ", withYaml)}): name the one you mean" : "");
        }
    }

    private static IEnumerable<string> YamlFiles(string folder) =>
        Directory.EnumerateFiles(folder).Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// A run with a pub/sub component but no Subscription resource for any app: the style folder is missing or is not
    /// the one meant (a broker folder, say). Apps that subscribe programmatically (/dapr/subscribe) still get events,
    /// so this warns rather than refuses; daprd starts either way.
    /// </summary>
    private static string? NoSubscriptionAnywhere(IReadOnlyList<AppSpec> apps, List<ResourceSet> loaded)
    {
        if (!loaded.Any(set => set.Components.Any(c => c.Kind == "pubsub")) || loaded.Any(set => set.Subscriptions.Count > 0))
            return null;
        var paths = apps.SelectMany(app => app.ResourcesPaths).Distinct(StringComparer.Ordinal);
        return $"no app of the run gets a Subscription resource (resources paths: {string.Join(", ", paths)}), though a pub/sub "
            + "component is there: only subscriptions an app declares itself (GET /dapr/subscribe) will deliver events. "
            + "Is the flow-style folder (e.g. components/choreography) missing from resourcesPaths?";
    }

    /// <summary>
    /// The CLI refuses a Dapr port it cannot listen on ("invalid configuration for HTTPPort. Port 3500 is not available",
    /// cli v1.17.1 pkg/standalone/run.go validatePort). It does not check the app port; the runner does, for an app it
    /// starts: otherwise the sidecar finds the other process listening, reports the app ready, and the app dies on bind.
    /// </summary>
    private static IEnumerable<string> HeldPorts(AppSpec app)
    {
        var who = app.Describe();
        var ports = new List<(string Name, int? Port)>
        {
            ("Dapr HTTP port", app.DaprHttpPort), ("Dapr gRPC port", app.DaprGrpcPort), ("metrics port", app.MetricsPort),
        };
        // Without a command the app is started elsewhere (a debugger, say) and is expected to hold its port.
        if (app.Command.Count > 0) ports.Insert(0, ("app port", app.AppPort));
        foreach (var (name, port) in ports)
        {
            if (port is not { } held || PortOwner.IsFree(held)) continue;
            var owner = PortOwner.Find(held) is { } found ? $" ({found})" : "";
            yield return $"{name} {held} of {who} is already in use by another process{owner}; stop it or use another port";
        }
    }
}
