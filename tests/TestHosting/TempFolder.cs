namespace TestHosting;

/// <summary>A folder of its own under the temp folder, for one test or one cluster; deleted on dispose.</summary>
public sealed class TempFolder(string prefix = "test-") : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string CreateFolder(params string[] parts) => Directory.CreateDirectory(Combine(parts)).FullName;

    public string WriteFile(string relativePath, string content)
    {
        var file = Combine(relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, content);
        return file;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { } // a file still held open by a process being torn down; the OS temp cleanup takes it later
        catch (UnauthorizedAccessException) { }
    }
}
