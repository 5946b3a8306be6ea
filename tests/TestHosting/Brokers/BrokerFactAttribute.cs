using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace TestHosting.Brokers;

/// <summary>
/// A test that needs a broker binary (redis-server, nats-server, rabbitmq-server) from its Debian package.
/// Without the binary the test is reported as skipped, never as passed, except under CI (env CI=true), where
/// it runs and fails with a message naming the package. xUnit 2 has no runtime skip, so the check happens at discovery.
/// <para><c>[BrokerFact("redis-server")]</c> names the binary; a bare <c>[BrokerFact]</c> (in a shared abstract suite)
/// takes it from <see cref="RequiresBrokerAttribute"/> on the concrete test class, and runs always if there is none.</para>
/// </summary>
[XunitTestCaseDiscoverer("TestHosting.Brokers.BrokerFactDiscoverer", "TestHosting")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrokerFactAttribute : FactAttribute
{
    public BrokerFactAttribute() { }

    public BrokerFactAttribute(string binary) => Skip = BrokerBinary.SkipReason(binary);
}

/// <summary>Names the broker binary that the <c>[BrokerFact]</c> tests of this class (and its base classes) need.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresBrokerAttribute(string binary) : Attribute
{
    public string Binary { get; } = binary;
}

/// <summary>Finds broker binaries on PATH (and the sbin folders, where Debian puts nats-server and rabbitmq-server).</summary>
public static class BrokerBinary
{
    public static bool IsCi => Environment.GetEnvironmentVariable("CI") == "true";

    public static string? Find(string binary)
    {
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]);
        return folders.Select(f => Path.Combine(f, binary)).FirstOrDefault(File.Exists);
    }

    /// <summary>Why a test needing <paramref name="binary"/> is skipped; null when it runs (found, or under CI).</summary>
    public static string? SkipReason(string binary) =>
        Find(binary) is not null || IsCi ? null : $"{binary} is not installed (Debian package {binary}); under CI=true this test fails instead";

    /// <summary>The binary's path, or an exception that says which package to install.</summary>
    public static string Require(string binary) =>
        Find(binary) ?? throw new InvalidOperationException($"{binary} is not installed: `apt-get install {binary}` (the Debian package that provides it)");
}

public sealed class BrokerFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        [new BrokerTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
}

/// <summary>A fact whose skip reason also looks at the class's <see cref="RequiresBrokerAttribute"/>.</summary>
public sealed class BrokerTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public BrokerTestCase() { }

    public BrokerTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod method)
        : base(sink, display, options, method) { }

    protected override string? GetSkipReason(IAttributeInfo factAttribute)
    {
        if (base.GetSkipReason(factAttribute) is { } explicitSkip) return explicitSkip;
        var required = TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresBrokerAttribute)).FirstOrDefault();
        return required?.GetConstructorArguments().FirstOrDefault() is string binary ? BrokerBinary.SkipReason(binary) : null;
    }
}
