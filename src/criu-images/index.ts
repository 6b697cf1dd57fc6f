/** The CRIU image codec as a library: images ↔ crit JSON, a dump directory's processes, files and memory. */
export { ImageFormatError } from "./errors.js";
export { decodeImage, encodeImage, imageInfo, readEntries, readImageHeader, type DecodeOptions, type ImageEntry } from "./image-file.js";
export { ImageDir, listImageFiles } from "./image-dir.js";
export { DirectoryFiles, type ImageFiles } from "./image-files.js";
export { IMAGE_TYPES, type ImageType } from "./image-types.js";
export { stringifyPython, type JsonValue, type JsonObject } from "./json-text.js";
export { DumpedMemory, MemoryError, PagemapIndex, pageRanges, PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT, type PageRange } from "./memory.js";
export { messageType, type MessageType, type FieldInfo } from "./schema-registry.js";
export { InvalidUtf8, type WireMessage } from "./wire-reader.js";
export { listProcesses, isDefunct, type ProcessInfo, type ThreadInfo } from "./explore/processes.js";
export { FileNames } from "./explore/file-names.js";
export { processFds, type ProcessFds, type FdView } from "./explore/fds.js";
export { processMems, type ProcessMems, type VmaView } from "./explore/mems.js";
export { processRss, type ProcessRss } from "./explore/rss.js";
export { processSockets, type SocketView } from "./explore/sk.js";
export { psTree, type PsNode } from "./explore/ps.js";
