using OrderFlow.Payments;

PaymentsApp.Build(args).Run();
