namespace Intake.Warehouse; internal static class Placeholder { }
