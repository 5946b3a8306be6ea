using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace TestHosting;

/// <summary>
/// A logger factory for sidecars that keeps their lines from <c>captureLevel</c> up (Information by default) for
/// assertions, and copies them to the console (stderr) from <c>consoleLevel</c> up; with the environment variable
/// <c>SIDECAR_LOG</c> set, from Debug up.
/// </summary>
public sealed class CapturedLogs : IDisposable
{
    public const string ConsoleVariable = "SIDECAR_LOG";

    private readonly ConcurrentQueue<(LogLevel Level, string Text)> _lines = new();
    private readonly LogLevel _capture;

    public CapturedLogs(LogLevel consoleLevel = LogLevel.None, LogLevel captureLevel = LogLevel.Information)
    {
        _capture = captureLevel;
        var console = Environment.GetEnvironmentVariable(ConsoleVariable) is { Length: > 0 } ? LogLevel.Debug : consoleLevel;
        Factory = LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(console < captureLevel ? console : captureLevel).AddProvider(new Provider(this));
            if (console == LogLevel.None) return;
            b.AddSimpleConsole(o => o.SingleLine = true).AddFilter<ConsoleLoggerProvider>(level => level >= console);
            b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
    }

    public ILoggerFactory Factory { get; }

    /// <summary>Whether a line at <paramref name="level"/> or above contains <paramref name="fragment"/> (ignoring case).</summary>
    public bool Any(LogLevel level, string fragment) =>
        _lines.Any(l => l.Level >= level && l.Text.Contains(fragment, StringComparison.OrdinalIgnoreCase));

    /// <summary>The lines logged at exactly <paramref name="level"/>, in order.</summary>
    public IReadOnlyList<string> Lines(LogLevel level) => [.. _lines.Where(l => l.Level == level).Select(l => l.Text)];

    public void Dispose() => Factory.Dispose();

    private sealed class Provider(CapturedLogs logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(logs);
        public void Dispose() { }
    }

    private sealed class Logger(CapturedLogs logs) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= logs._capture && logLevel != LogLevel.None;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) logs._lines.Enqueue((logLevel, formatter(state, exception)));
        }
    }
}
