// Anchor translation unit for the shared precompiled header (common/pch.hpp).
