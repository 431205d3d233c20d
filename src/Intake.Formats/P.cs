namespace Intake.Formats; internal static class Placeholder { }
