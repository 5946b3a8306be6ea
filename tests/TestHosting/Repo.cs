namespace TestHosting;

/// <summary>Paths in this repository, found from the running binary's place under it: the folder that holds Dapr.sln.</summary>
public static class Repo
{
    // bin/<Configuration>/<TargetFramework>/ of the test project or the bench that runs.
    private static readonly DirectoryInfo BinaryFolder = new(System.IO.Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));

    /// <summary>The repository's root folder.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>A path under the repository's root.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>A component folder: a name under components/ (<c>local</c>, <c>choreography</c>, …) or, as it is, an absolute path.</summary>
    public static string Components(string folder) => System.IO.Path.IsPathRooted(folder) ? folder : Path("components", folder);

    /// <summary>
    /// The built assembly of a project of this repository, in the configuration and target framework the running
    /// binary was built with; building Dapr.sln builds them all.
    /// </summary>
    public static string BuiltDll(string projectFolder, string assemblyName)
    {
        var dll = Path(projectFolder, "bin", BinaryFolder.Parent!.Name, BinaryFolder.Name, assemblyName + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{assemblyName} is not built; build Dapr.sln first", dll);
    }

    private static string FindRoot()
    {
        for (var folder = BinaryFolder; folder is not null; folder = folder.Parent)
            if (File.Exists(System.IO.Path.Combine(folder.FullName, "Dapr.sln"))) return folder.FullName;
        throw new InvalidOperationException($"no Dapr.sln above {BinaryFolder.FullName}");
    }
}
