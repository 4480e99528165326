"""The foundation every other part of learnsync builds on: settings, HTTP, secret masking."""
