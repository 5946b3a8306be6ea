using OrderFlow.Orders;

OrdersApp.Build(args).Run();
