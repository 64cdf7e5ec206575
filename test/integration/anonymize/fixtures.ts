import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { tempDir } from '../../support/temp-dir.js';

/** The anonymize section for the seeded chat schema, shared by the anonymize integration tests. */
export const CHAT_ANONYMIZE_YAML = `
anonymize:
  secretEnv: TEST_ANON_SECRET
  subjects:
    users:
      root: { table: users, key: id }
      related:
        - { table: user_sessions, key: user_id }
        - { table: user_relationships, key: [from_user_id, to_user_id] }
        - { table: room_members, key: user_id }
        - { table: messages, key: user_id }
  tables:
    users:
      columns:
        id: keep
        email: fake.email
        username: fake.username
        display_name: fake.name
        phone: { rule: partial, keep: 4 }
        date_of_birth: { rule: generalize, to: year }
        country: keep
        created_at: keep
        last_seen_at: { rule: noise, range: 1 day }
        settings: { rule: json, keys: { language: keep, theme: keep }, default: keep }
    messages:
      columns:
        id: keep
        room_id: keep
        user_id: keep
        body: { rule: redact, text: "[deleted]" }
        attachments: null
        created_at: keep
        edited_at: keep
    user_sessions:
      erase: delete-row
      columns: { id: keep, user_id: keep, ip: fake.ip, user_agent: redact, created_at: keep, expires_at: keep }
    user_relationships:
      erase: delete-row
      columns: { from_user_id: keep, to_user_id: keep, kind: keep, created_at: keep }
    room_members:
      erase: delete-row
      columns: { room_id: keep, user_id: keep, role: keep, joined_at: keep }
    rooms:
      columns: { id: keep, name: keep, is_private: keep, created_by: keep, created_at: keep }
    audit_log:
      columns:
        id: keep
        actor_user_id: keep
        action: keep
        entity: keep
        entity_id: keep
        details: { rule: json, keys: { ip: fake.ip, request_id: hash } }
        created_at: keep
`;

export async function writeConfig(yaml: string): Promise<{ dir: string; path: string }> {
  const dir = await tempDir('dbops-anon-');
  const path = join(dir, 'dbops.config.yaml');
  await writeFile(path, yaml);
  return { dir, path };
}
