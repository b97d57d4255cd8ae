/** Engine messages name their node ("node "drafts" (flux-flex-generate): …"); shown on that node, the prefix is noise. */
export function shortMessage(message: string): string {
  return message.replace(/^node "[^"]+"( \([^)]+\))?( item \d+)?: /, '');
}
