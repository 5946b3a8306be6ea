using DevSidecar.Resources;
using OrderFlow.Contracts;
using OrderFlow.Monitor;

namespace OrderFlow.Tests.Domain;

/// <summary>The monitor's <see cref="FlowMap"/> (the arrows the flow page draws) against the style's subscription files.</summary>
public class FlowMapTests
{
    private static readonly string[] FlowApps =
        [AppIds.Orders, AppIds.Inventory, AppIds.Payments, AppIds.Shipping, AppIds.Notifications, AppIds.Orchestrator];

    /// <summary>Topic → the apps subscribed to it in components/{style}, as each app's sidecar loads them.</summary>
    private static Dictionary<string, string[]> SubscribersIn(string style) =>
        FlowApps
            .SelectMany(app => ResourceLoader.Load([Repo.Components(style)], app, ComponentRegistry.KnownTypes).Subscriptions.Select(s => (s.Topic, App: app)))
            .GroupBy(s => s.Topic)
            .ToDictionary(g => g.Key, g => g.Select(s => s.App).Order().ToArray());

    private static string[] EventReceivers(string style, string step) =>
        [.. FlowMap.HopsOf(style, step).Where(h => h.Via == Via.Event).SelectMany(h => h.To).Order()];

    [Theory]
    [InlineData(FlowMap.Choreography)]
    [InlineData(FlowMap.Orchestration)]
    public void Each_steps_event_goes_to_the_apps_the_styles_subscriptions_name(string style)
    {
        var subscribers = SubscribersIn(style);
        foreach (var step in FlowRules.Steps)
            EventReceivers(style, step).Should().Equal(subscribers.GetValueOrDefault(step) ?? [], $"{step} in {style}");
    }

    [Fact]
    public void In_orchestration_the_workflow_calls_the_service_of_each_step_it_drives()
    {
        FlowMap.HopsOf(FlowMap.Orchestration, Topics.PaymentRefunded).Should().BeEquivalentTo([new Hop(AppIds.Orchestrator, [AppIds.Payments], Via.Call)]);
        FlowRules.Steps.Where(step => !FlowMap.HopsOf(FlowMap.Orchestration, step).Any(h => h.Via == Via.Event))
            .Should().BeEquivalentTo([Topics.StockReserved, Topics.StockRejected, Topics.PaymentCharged, Topics.PaymentDeclined,
                Topics.PaymentRefunded, Topics.StockReleased], "only the placed order, shipping's outcome and the end travel as events");
        FlowMap.Lanes(FlowMap.Orchestration).Should().Contain(AppIds.Orchestrator);
        FlowMap.Lanes(FlowMap.Choreography).Should().NotContain(AppIds.Orchestrator);
    }
}
