using Microsoft.Extensions.Logging;

namespace DevCli;

/// <summary>
/// Logging for one app's sidecar: one line per entry, prefixed with the app id on the console (so the
/// sidecars of a run, which share this process, can be told apart; the instance name for one of several instances of an
/// app id) and written plain to the daprd log file.
/// </summary>
public sealed class SidecarLoggerProvider : ILoggerProvider
{
    private readonly string _consolePrefix;
    private readonly TextWriter? _console;
    private readonly StreamWriter? _logFile;
    private readonly Lock _fileLock = new();

    public SidecarLoggerProvider(string instanceName, TextWriter? console, string? logFilePath)
    {
        _consolePrefix = $"== DAPR - {instanceName} == ";
        _console = console;
        if (logFilePath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(logFilePath)!);
            _logFile = new StreamWriter(logFilePath, append: true) { AutoFlush = true };
        }
    }

    public ILogger CreateLogger(string categoryName) => new SidecarLogger(this, categoryName);

    public void Dispose()
    {
        lock (_fileLock) _logFile?.Dispose();
    }

    /// <summary>daprd's --log-level values, mapped onto .NET levels.</summary>
    public static readonly IReadOnlyDictionary<string, LogLevel> DaprLogLevels = new Dictionary<string, LogLevel>(StringComparer.OrdinalIgnoreCase)
    {
        ["debug"] = LogLevel.Debug,
        ["info"] = LogLevel.Information,
        ["warn"] = LogLevel.Warning,
        ["error"] = LogLevel.Error,
        ["fatal"] = LogLevel.Critical,
    };

    public static string? CheckLevel(string? daprLogLevel) =>
        daprLogLevel is null || DaprLogLevels.ContainsKey(daprLogLevel)
            ? null
            : $"log level '{daprLogLevel}' is not one of {string.Join(", ", DaprLogLevels.Keys)}";

    private void Write(string line)
    {
        if (_logFile is not null)
            lock (_fileLock) _logFile.WriteLine(line);
        _console?.WriteLine(_consolePrefix + line);
    }

    private sealed class SidecarLogger(SidecarLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{DateTime.Now:HH:mm:ss.fff} {Short(logLevel)} {category}: {formatter(state, exception)}";
            if (exception is not null) line += Environment.NewLine + exception;
            provider.Write(line);
        }

        private static string Short(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
