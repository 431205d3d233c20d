namespace Intake.Storage; internal static class Placeholder { }
