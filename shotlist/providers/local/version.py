"""The local engine's version, apart from the engine so planning can mix it into local shots'
hashes without importing the engine. Bump it whenever the engine's output bytes change."""

LOCAL_ENGINE_VERSION = "2"
