namespace Intake.Engine; internal static class Placeholder { }
